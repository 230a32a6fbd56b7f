"""Who may see the console: password logins (argon2 or bcrypt hashes), a reverse proxy's header, or nobody
but this machine (docs/console.md#access)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

COOKIE = "corral_session"
LOGIN_COOKIE = "corral_login"  # before a login: binds the form's CSRF token to this browser
FAILURES = 5  # wrong passwords from one address within WINDOW seconds before it must wait
WINDOW = 300.0
_HASHER = PasswordHasher()
#: password checks at once: each argon2 check of argon2-cffi's default hash holds 64 MiB while it runs, so a flood
#: of logins waits its turn instead of growing the console by 64 MiB per request
_CHECKING = threading.BoundedSemaphore(1)


def hash_password(password: str) -> str:
    """An argon2id hash (argon2-cffi's defaults) for ``console.users``."""
    return _HASHER.hash(password)


def password_matches(hashed: str, password: str) -> bool:
    if hashed.startswith("$2"):
        try:
            return bcrypt.checkpw(password.encode(), hashed.encode())
        except ValueError:
            return False
    try:
        return _HASHER.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError, ValueError):  # ValueError: not ASCII
        return False


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address, or ``localhost``) reaches this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _source(address: str) -> str:
    """Who the wrong passwords are counted for: an IPv4 address, or an IPv6 address's /64 (one host holds a whole
    /64: counted per address, it had 2^64 times five guesses)."""
    try:
        found = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(found, ipaddress.IPv6Address):
        if found.ipv4_mapped is not None:
            return str(found.ipv4_mapped)
        return str(ipaddress.ip_network(f"{found}/64", strict=False))
    return str(found)


class Throttled(Exception):
    """Too many wrong passwords from this address (or IPv6 /64) lately: not checked."""


@dataclass
class Session:
    user: str
    expires: float
    csrf: str


class Auth:
    """Sessions in memory (a restart logs everyone out), CSRF tokens, and a limit on wrong passwords."""

    def __init__(self, users: dict[str, str], proxy_header: str | None, trusted_proxies: list[str],
                 session_hours: float) -> None:  # fmt: skip
        self.users = users
        self.proxy_header = proxy_header
        self.trusted = trusted_proxies
        self.lifetime = session_hours * 3600
        self._key = secrets.token_bytes(32)
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @property
    def mode(self) -> str:
        return "proxy" if self.proxy_header else ("users" if self.users else "none")

    # -------------------------------------------------------------------------------------- passwords

    def _recent(self, source: str, create: bool = False) -> deque[float]:
        """The times of the wrong passwords of ``source`` within WINDOW (under the lock); with ``create``, its
        deque is kept for the attempt about to be counted."""
        recent = self._failures.get(source)
        if recent is None:
            recent = deque(maxlen=FAILURES)
            if create:
                if len(self._failures) > 10_000:  # a flood of addresses: forget the oldest
                    self._failures.pop(next(iter(self._failures)))
                self._failures[source] = recent
        now = time.monotonic()
        while recent and now - recent[0] > WINDOW:
            recent.popleft()
        return recent

    def throttled(self, address: str) -> bool:
        with self._lock:
            return len(self._recent(_source(address))) >= FAILURES

    def login(self, user: str, password: str, address: str) -> str | None:
        """A new session's token when the password is right; None (and one failure counted) otherwise. Raises
        Throttled without a check when the address has had its wrong passwords. The attempt counts as wrong
        before the check: concurrent guesses from one address cannot all pass the limit while hashes run."""
        source = _source(address)
        with self._lock:
            recent = self._recent(source, create=True)
            if len(recent) >= FAILURES:
                raise Throttled(source)
            recent.append(time.monotonic())
        hashed = self.users.get(user)
        # an unknown user is checked against a known user's hash, result ignored: it costs the same time (and
        # memory) as a known one of the same kind, so timing does not tell which user names exist
        stand_in = hashed or next(iter(self.users.values()), None)
        with _CHECKING:
            matches = stand_in is not None and password_matches(stand_in, password) and hashed is not None
        if not matches:
            return None
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            for old in [t for t, s in self._sessions.items() if s.expires < now]:
                del self._sessions[old]
            self._sessions[token] = Session(user, now + self.lifetime, secrets.token_urlsafe(24))
            self._failures.pop(source, None)
        return token

    def session(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            found = self._sessions.get(token)
            if found is None or found.expires < time.time():
                self._sessions.pop(token, None)
                return None
            return found

    def logout(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    # ------------------------------------------------------------------------------------------ CSRF

    def login_token(self, browser: str) -> str:
        """The login form's CSRF token, bound to the browser's pre-login cookie."""
        return hmac.new(self._key, browser.encode(), hashlib.sha256).hexdigest()

    def login_token_ok(self, browser: str | None, token: str | None) -> bool:
        return bool(browser and token) and hmac.compare_digest(self.login_token(str(browser)), str(token))

    # ----------------------------------------------------------------------------------------- proxy

    def proxy_user(self, client: str | None, headers: list[tuple[str, str]]) -> str | None:
        """The user a trusted reverse proxy names, or None (not from the proxy, no header, or the header twice: a
        proxy that adds its own to the client's would forward both)."""
        if not self.proxy_header or client is None or not self._trusted(client):
            return None
        found = [value for name, value in headers if name.lower() == self.proxy_header.lower()]
        return found[0].strip()[:64] or None if len(found) == 1 else None

    def trusts_this_machine(self) -> bool:
        """Whether ``trusted_proxies`` holds a loopback address: then any browser on this machine passes for the
        proxy, and may send the header itself."""
        return any(self._trusted(address) for address in ("127.0.0.1", "::1"))

    def _trusted(self, client: str) -> bool:
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        for item in self.trusted:
            try:
                if address in ipaddress.ip_network(item, strict=False):
                    return True
            except ValueError:
                continue
        return False

"""OpenSSH's ``ssh`` as the transport: ``ssh -s HOST sftp`` started as a child, SFTP spoken over its pipes.

This is how restic and borg reach SSH servers. The encryption runs in OpenSSH's C code, in its own process (on
another core), while Python only frames SFTP messages: uploads run at scp's speed, where a pure-Python SSH stack
(asyncssh) reached 0.76-0.86 of it on this 2-core machine. The user's ssh_config (ProxyJump, ...) still applies;
corral's keys override it.

Passwords and key passphrases reach ``ssh`` through ``SSH_ASKPASS``: a throwaway helper in a private folder reads
them from the child's environment. They never appear in process arguments or files.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import select
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import paramiko
from fsspec.implementations.sftp import SFTPFileSystem
from paramiko.sftp import (
    _VERSION,
    CMD_EXTENDED,
    CMD_HANDLE,
    CMD_INIT,
    CMD_OPEN,
    CMD_VERSION,
    SFTP_FLAG_CREATE,
    SFTP_FLAG_TRUNC,
    SFTP_FLAG_WRITE,
    SFTPError,
)

from corral import CorralError, ModeRefusal
from corral_storage_ssh.options import SSHOptions
from corral_storage_ssh.transfer import BackgroundSync, Readable, Upload, write_size

KEEPALIVE_COUNT = 3
T = TypeVar("T")
#: corral's SSH_ASKPASS helper, installed with the package (a copy goes to a private temp folder if it lost its
#: executable bit)
ASKPASS = Path(__file__).with_name("askpass")


class LoginRefused(PermissionError):
    """The server refused every credential offered."""


class HostKeyRejected(PermissionError):
    """The server's host key is not the one ``known_hosts`` holds."""


class NoAnswer(TimeoutError):
    """The server stopped answering (connect, login or keepalives)."""


class LinkLost(ConnectionResetError):
    """``ssh`` exited or the connection broke in the middle of an operation."""


class SSHMissing(FileNotFoundError):
    """The ``ssh`` program is not installed (not retried: another attempt cannot find it either)."""


class SSHSetupError(OSError):
    """ssh refused its own setup (bad option, unknown host, bad key file...): another attempt fails the same."""


class LocalFileError(SSHSetupError):
    """A local file the storage needs (key, known_hosts) is missing or unreadable at connection time.

    Not a FileNotFoundError: the core reads that as a missing remote path (an empty listing, a file already
    deleted), which would hide the failure.
    """


CLEAN_ERRORS = (LoginRefused, HostKeyRejected, NoAnswer, LinkLost, SSHMissing, SSHSetupError,
                ConnectionRefusedError)


def ssh_command(options: SSHOptions, askpass: bool, control: Path | None = None, master: bool = True) -> list[str]:
    """``ssh`` options for an unattended SFTP session: host keys, credentials, cipher and every timeout.

    ``control``: the socket through which a ``master`` session's connection carries more sessions (a second
    SFTP channel without a second login; see :class:`corral_storage_ssh.transfer.BackgroundSync`); a session
    that is not the master joins it there.
    """
    timeout = max(1, math.ceil(options.timeout))
    settings = {
        "BatchMode": "no" if askpass else "yes",
        "ConnectTimeout": str(timeout),
        # a server that stops answering mid-transfer is dropped after about `timeout` seconds
        "ServerAliveInterval": str(max(1, math.ceil(options.timeout / KEEPALIVE_COUNT))),
        "ServerAliveCountMax": str(KEEPALIVE_COUNT),
        "Compression": "no",  # archives are compressed already: zlib would only burn CPU
        # never a connection of the user's ssh_config: only corral's own, in a folder only its user can enter
        "ControlMaster": "yes" if control is not None and master else "no",
        "ControlPath": str(control) if control is not None else "none",
        "ControlPersist": "no",
        "ForwardAgent": "no",
        "ForwardX11": "no",
        "ClearAllForwardings": "yes",
        "NumberOfPasswordPrompts": "1",
        # what a ~/.ssh/config could set that would break an SFTP stream or hide ssh's error messages
        "RemoteCommand": "none",
        "RequestTTY": "no",
        "PermitLocalCommand": "no",
        "LogLevel": "INFO",
        "Ciphers": f"^{options.cipher}",  # preferred; ssh's default ciphers stay as fallbacks
    }
    if options.host_key_check and options.known_hosts is not None:
        settings |= {"StrictHostKeyChecking": "yes", "UserKnownHostsFile": str(options.known_hosts),
                     "GlobalKnownHostsFile": "/dev/null"}  # fmt: skip
    else:
        settings |= {"StrictHostKeyChecking": "no", "UserKnownHostsFile": "/dev/null",
                     "GlobalKnownHostsFile": "/dev/null"}  # fmt: skip
    command = ["ssh", "-p", str(options.port), "-l", options.user]
    if options.path_to_key is not None:
        command += ["-i", str(options.path_to_key)]
        settings |= {"IdentitiesOnly": "yes", "IdentityAgent": "none"}
    elif options.password is not None:  # a password was given: no ~/.ssh key or agent is offered first
        settings |= {"PubkeyAuthentication": "no", "IdentityAgent": "none",
                     "PreferredAuthentications": "keyboard-interactive,password"}  # fmt: skip
    if options.password is None:
        settings |= {"PasswordAuthentication": "no", "KbdInteractiveAuthentication": "no"}
    for key, value in settings.items():
        command += ["-o", f"{key}={value}"]
    return [*command, "-s", "--", options.host, "sftp"]


class SFTPClient(paramiko.SFTPClient):  # type: ignore[misc]
    """paramiko's SFTP client, keeping the extensions the server announced (paramiko reads and drops them).

    ``fsync@openssh.com`` is one of them: OpenSSH's sftp-server has it since 6.5; paramiko never sends it.
    """

    extensions: dict[str, bytes]

    def _send_version(self) -> int:
        hello = paramiko.Message()
        hello.add_int(_VERSION)
        self._send_packet(CMD_INIT, hello)
        kind, data = self._read_packet()
        if kind != CMD_VERSION:
            raise SFTPError("Incompatible sftp protocol")
        reply = paramiko.Message(data)
        version: int = reply.get_int()
        self.extensions = {}
        while reply.get_remainder():
            name = reply.get_text()
            self.extensions[name] = reply.get_binary()
        return version


class Pipe:
    """The socket end paramiko's SFTP client reads and writes, shaped like a paramiko channel."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, data: bytes) -> int:
        return self._unless_silent(self.sock.send, data)

    def recv(self, size: int) -> bytes:
        return self._unless_silent(self.sock.recv, size)

    def send_all(self, *parts: bytes | memoryview) -> None:
        """Every byte of ``parts``, in order, without joining them (one ``sendmsg`` when the pipe has room)."""
        views = [memoryview(part).cast("B") for part in parts]
        while views:
            sent = self._unless_silent(self.sock.sendmsg, views)
            while views and sent >= len(views[0]):
                sent -= len(views.pop(0))
            if views and sent:
                views[0] = views[0][sent:]

    def _unless_silent(self, call: Callable[[Any], T], argument: Any) -> T:
        """After one timeout every later read or write (paramiko's cleanup) fails at once instead of waiting again."""
        try:
            return call(argument)
        except TimeoutError:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            raise

    def recv_ready(self) -> bool:
        """Whether an answer is waiting (paramiko reads the acks of pipelined writes when there are some)."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))

    def settimeout(self, seconds: float | None) -> None:
        self.sock.settimeout(seconds)

    def get_name(self) -> str:
        return "ssh"

    def close(self) -> None:
        self.sock.close()


class Session:
    """One running ``ssh -s sftp``: the SFTP client on its pipe, and its stderr for error messages."""

    control: Path | None  # the socket other sessions join this one's connection through

    def __init__(self, options: SSHOptions, joins: Session | None = None) -> None:
        """A new connection, whose ssh also carries the sessions that ``joins`` it later; or, with ``joins``,
        one more session over that one's connection (a new connection if it is gone)."""
        self.options = options
        self.private: str | None = None  # the folder of this connection's control socket
        if joins is not None:
            control, master = joins.control, False
        else:
            self.private = tempfile.mkdtemp(prefix="corral-ssh-")  # 0700
            # gone at exit even when nobody closes the session (a plugin's or a script's filesystem left open)
            weakref.finalize(self, shutil.rmtree, self.private, True)
            control, master = Path(self.private, "mux"), True
        # a socket path longer than the kernel takes (a long TMPDIR): no shared connection, nothing else changes
        self.control = control if control is not None and len(str(control)) < 100 else None
        ours, theirs = socket.socketpair()
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the session
        self.after_login = 0  # where ssh's stderr lines about the session (not the login) start
        secrets = {"CORRAL_SSH_PASSWORD": options.password, "CORRAL_SSH_PASSPHRASE": options.key_passphrase}
        given = {name: value.get_secret_value() for name, value in secrets.items() if value is not None}
        with _askpass(bool(given)) as helper:
            env = {**os.environ, **given}
            if helper is not None:
                env |= {"SSH_ASKPASS": str(helper), "SSH_ASKPASS_REQUIRE": "force",
                        "CORRAL_SSH_LOGIN": f"{options.user}@{options.host}",
                        "CORRAL_SSH_KEY": str(options.path_to_key or "")}  # fmt: skip
            try:
                self.process = subprocess.Popen(
                    ssh_command(options, askpass=helper is not None, control=self.control, master=master),
                    stdin=theirs, stdout=theirs,
                    stderr=self.stderr, env=env, start_new_session=True,  # Ctrl-C reaches corral, not ssh
                )  # fmt: skip
            except FileNotFoundError:
                self._remove_private()
                missing = "the `ssh` program is not installed (apt install openssh-client)"
                raise SSHMissing(errno.ENOENT, missing) from None
            finally:
                theirs.close()
            # a last resort for a silent pipe: ssh's own timeouts and keepalives fire first
            self.silence = 2 * options.timeout + 5
            ours.settimeout(self.silence)
            self.pipe = Pipe(ours)
            try:
                self.sftp = SFTPClient(self.pipe)  # returns once ssh logged in and sftp answered
            except CorralError:  # SIGTERM's Interrupted, raised while waiting: the run stops, never a retried login
                self.close()
                raise
            except Exception as exc:
                raise self.failure(exc) from None
        self.stderr.seek(0, os.SEEK_END)
        self.after_login = self.stderr.tell()

    def failure(self, exc: BaseException) -> OSError:
        """Why the login failed, in ssh's words (auth, host key, timeout...), and the session closed."""
        said = self.last_words()
        transcript = self._lines()
        self.close()
        return explain(said, exc, self.options, logged_in=False, transcript=transcript)

    def last_words(self) -> str:
        """ssh's last line on stderr once it has exited; the connection is broken when this is asked."""
        with contextlib.suppress(Exception):
            self.pipe.close()  # ssh sees the end of its input and exits, if it has not already
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        lines = self._lines()
        return next((line.strip() for line in reversed(lines) if line.strip() and "Warning:" not in line), "")

    def _lines(self) -> list[str]:
        """What ssh wrote on stderr since the login (all of it, before the login)."""
        try:
            self.stderr.seek(self.after_login)
            return self.stderr.read().decode(errors="replace").splitlines()
        except (OSError, ValueError):  # already closed
            return []

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.pipe.close()
        with contextlib.suppress(Exception):
            self.stderr.close()
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
            if self.process.poll() is None:
                self.process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=5)
        self._remove_private()

    def _remove_private(self) -> None:
        if self.private is not None:
            shutil.rmtree(self.private, ignore_errors=True)


SETUP_ERRORS = ("could not resolve hostname", "bad configuration option", "bad owner or permissions",
                "subsystem request failed", "no such file or directory", "cannot execute")  # fmt: skip


def host_key_rejected(options: SSHOptions, transcript: list[str]) -> HostKeyRejected:
    """What to do about a host key ``known_hosts`` does not hold: never "turn the check off", which is how a
    man-in-the-middle gets in; for a changed key, re-verify it and replace the old entry."""
    where = f"{options.host}:{options.port}"
    known_hosts = shlex.quote(str(options.known_hosts))
    entry = shlex.quote(options.host if options.port == 22 else f"[{options.host}]:{options.port}")
    keyscan = f"`ssh-keyscan -p {options.port} {shlex.quote(options.host)} >> {known_hosts}`"
    if not any("REMOTE HOST IDENTIFICATION HAS CHANGED" in line for line in transcript):
        return HostKeyRejected(
            errno.EACCES, f"host key of {where} is not in `{options.known_hosts}`: add it with {keyscan} after "
            "checking its fingerprint with the server's administrator",
        )  # fmt: skip
    sent = re.search(r"fingerprint for the (\S+) key sent by the remote host is\s+(\S+?)\.?$", "\n".join(transcript),
                     re.MULTILINE)  # fmt: skip
    sends = f" (it now sends {sent[1]} key {sent[2]})" if sent else ""
    return HostKeyRejected(
        errno.EACCES,
        f"host key of {where} has CHANGED since `{options.known_hosts}` recorded it{sends}: someone may be "
        "intercepting the connection, unless the server's key was replaced; once its administrator confirms the new "
        f"fingerprint, run `ssh-keygen -f {known_hosts} -R {entry}` and add the new key with {keyscan}",
    )


def explain(said: str, exc: BaseException, options: SSHOptions, logged_in: bool = True,
            transcript: list[str] | None = None) -> OSError:  # fmt: skip
    """ssh's last line (or the SFTP client's error) as a builtin error with a message that says what to fix.

    Before the login, ssh's stderr (``transcript``) also holds whatever the server printed (a banner): only then
    may a line mean a refused login or host key.
    """
    lowered = said.lower()
    if not logged_in:
        if "host key verification failed" in lowered or "host key for" in lowered:
            return host_key_rejected(options, transcript or [])
        if "permission denied" in lowered or "too many authentication failures" in lowered:
            return LoginRefused(
                errno.EACCES, f"authentication failed for user `{options.user}` (check `password` / `path_to_key`)"
            )
        if any(error in lowered for error in SETUP_ERRORS):
            return SSHSetupError(errno.EINVAL, f"ssh: {said}")
    if "timed out" in lowered or "not responding" in lowered or isinstance(exc, TimeoutError):
        return NoAnswer(errno.ETIMEDOUT, f"no answer within {options.timeout:g} s (timed out)")
    if "connection refused" in lowered:
        return ConnectionRefusedError(errno.ECONNREFUSED, "connection refused")
    if said:
        return LinkLost(errno.ECONNRESET, f"connection lost (ssh: {said})")
    return LinkLost(errno.ECONNRESET, f"connection lost ({type(exc).__name__}: {exc})".replace(": )", ")"))


@contextlib.contextmanager
def _askpass(needed: bool) -> Iterator[Path | None]:
    """The helper that prints the secret ssh asks for (it holds none: it reads the child's environment)."""
    if not needed:
        yield None
    elif os.access(ASKPASS, os.X_OK):  # the installed copy: works where /tmp is mounted noexec
        yield ASKPASS
    else:
        with tempfile.TemporaryDirectory(prefix="corral-askpass-") as folder:
            helper = Path(folder) / "askpass"
            helper.write_text(ASKPASS.read_text())
            helper.chmod(stat.S_IRWXU)
            yield helper


class OpenSSHFileSystem(SFTPFileSystem):  # type: ignore[misc]
    """fsspec's ``sftp`` (paramiko's SFTP client) with its connection made by ``ssh`` instead of paramiko's SSH,
    a rename that always replaces the target, uploads created with their permissions and fsync'd on the server."""

    cachable = False  # fsspec's instance cache would hand out a connection that may be dead
    posix_modes = True  # see corral.storage_defaults: folders and files get the storage's dir_mode and file_mode
    streams = True  # `open(path, "wb")` sends each write as it comes (pipelined, see StreamWriter)

    def __init__(self, options: SSHOptions) -> None:
        self.options = options
        self.mode_refusal = ModeRefusal(f"sftp://{options.user}@{options.host}:{options.port}")
        super().__init__(options.host)

    def _connect(self) -> None:
        self.session = Session(self.options)
        self.ftp: SFTPClient = self.session.sftp
        self.client = None
        self.write_size = write_size(self.ftp)

    def put_file(self, lpath: str, rpath: str, callback: Any = None, file_mode: int | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        """Pipelined writes (see :mod:`corral_storage_ssh.transfer`) into a file that has ``file_mode`` from its
        creation; fsync'd on the server before the core renames it, where the server has ``fsync@openssh.com``
        (OpenSSH does)."""
        with open(lpath, "rb") as source:
            self.put_stream(source, rpath, file_mode)

    def put_stream(self, source: Readable, rpath: str, file_mode: int | None = None) -> int:
        """Like :meth:`put_file`, from a binary stream read to its end (a pipe from a dump); the bytes stored."""
        with StreamWriter(self, rpath, file_mode) as target:
            sent = target.upload.readfrom(source)
            target.fsync()
        return sent

    def open(self, path: str, mode: str = "rb", file_mode: int | None = None, **kwargs: Any) -> Any:
        """Reading as fsspec does; writing (``wb``) through a :class:`StreamWriter` created with ``file_mode``."""
        if "w" not in mode:
            return super().open(path, mode, **kwargs)
        # on a channel of its own (over the same connection): the pipelined writes' acks are read by the writer,
        # and a request the storage makes meanwhile on its own channel would take them
        return StreamWriter(self, path, file_mode, self._second_session())

    def _second_session(self) -> Session:
        return Session(self.options, joins=self.session)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        super().mkdir(path, create_parents=create_parents, mode=0o700)  # private until the core's chmod

    def chmod(self, path: str, mode: int) -> None:
        self._set_mode(lambda: self.ftp.chmod(path, mode))

    def _set_mode(self, change: Callable[[], None]) -> None:
        """A server that refuses (permission denied, unsupported) gets one warning; a broken connection raises."""
        if self.mode_refusal.refused:
            return
        try:
            change()
        except OSError as exc:
            refused = exc.errno in (errno.EACCES, errno.EPERM) or "unsupported" in str(exc).lower()
            if not refused:
                raise
            self.mode_refusal(str(exc) or type(exc).__name__)

    def mv(self, path1: str, path2: str, **kwargs: Any) -> None:
        try:
            self.ftp.posix_rename(path1, path2)  # OpenSSH's atomic, overwriting rename
            return
        except OSError as exc:
            if exc.errno is not None:  # ENOENT, EACCES: the plain rename would fail the same way
                raise
        try:
            self.ftp.rename(path1, path2)  # plain SFTP v3 rename refuses an existing target
        except OSError:
            if not self.exists(path2):
                raise
            self.ftp.remove(path2)
            self.ftp.rename(path1, path2)


class StreamWriter:
    """A new remote file written as the bytes come: pipelined writes (:class:`Upload`), created with ``file_mode``;
    :meth:`fsync` waits for every ack and makes the bytes durable on the server (``fsync@openssh.com``)."""

    def __init__(self, fs: OpenSSHFileSystem, path: str, file_mode: int | None, session: Session | None = None) -> None:
        """On ``session`` (which it closes when done) or the filesystem's own."""
        self.fs = fs
        self.own = session
        self.session = session or fs.session
        ftp = self.session.sftp
        self.target = _create_on(ftp, path, file_mode)
        if file_mode is not None:  # exactly file_mode, whatever the server's umask took from the open's mode
            fs._set_mode(lambda: self.target.chmod(file_mode))
        self.syncs = fs.options.fsync and "fsync@openssh.com" in ftp.extensions
        background = (lambda upload: BackgroundSync(fs._second_session, path, upload)) if self.syncs else None
        self.upload = Upload(ftp, self.session.pipe, self.target.handle, fs.write_size, background)
        self.done = self.failed = False

    def write(self, data: Any) -> int:
        try:
            return self.upload.write(data)
        except BaseException:
            self.failed = True  # the connection is not waited for again when the file is closed
            raise

    def flush(self) -> None:
        """Nothing to do: bytes go out as they come; :meth:`fsync` waits for them."""

    def fsync(self) -> None:
        self.upload.finish()
        if self.syncs:
            _fsync_on(self.session, self.target)
        self.done = True

    def close(self) -> None:
        """Send what is left and close (after a failed write: close without waiting for the server)."""
        try:
            if not self.done and not self.failed:
                self.upload.finish()
            self.upload.__exit__(None, None, None)
            self.target.close()
        finally:
            if self.own is not None:
                self.own.close()

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _create_on(ftp: SFTPClient, path: str, mode: int | None) -> paramiko.SFTPFile:
    """Open for writing, created with ``mode`` (paramiko's ``open`` sends no mode: 0666 minus the umask)."""
    if mode is None:
        return ftp.open(path, "wb")
    attributes = paramiko.SFTPAttributes()
    attributes.st_mode = mode
    kind, reply = ftp._request(CMD_OPEN, path, SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_TRUNC, attributes)
    if kind != CMD_HANDLE:
        raise SFTPError("Expected handle")
    return paramiko.SFTPFile(ftp, reply.get_binary(), "wb")


def _fsync_on(session: Session, target: paramiko.SFTPFile) -> None:
    """The server's disk may take minutes to write a large archive back: the pipe waits for it as long as it takes
    (a dead server is still caught by ssh's keepalives, which make ssh exit and end the pipe)."""
    session.pipe.settimeout(None)
    try:
        session.sftp._request(CMD_EXTENDED, "fsync@openssh.com", target.handle)
    finally:
        session.pipe.settimeout(session.silence)

"""Process body of the SMTP test server: ``python -m corral_testservers.smtp_server_main HOST MAILDIR``.

Binds a free port, delivers every message into the Maildir ``MAILDIR``, prints ``ready PORT`` and serves
until SIGTERM/SIGINT. With ``CORRAL_SMTP_USER`` and ``CORRAL_SMTP_PASSWORD`` set, AUTH PLAIN/LOGIN (over
plain TCP) is required before MAIL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any


def main() -> None:
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    host, maildir = sys.argv[1], sys.argv[2]
    user, password = os.environ.get("CORRAL_SMTP_USER"), os.environ.get("CORRAL_SMTP_PASSWORD")
    handler = Mailbox(Path(maildir))
    options: dict[str, Any] = {}
    if user and password:
        expected = (user.encode(), password.encode())

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == expected
            # handled=False lets aiosmtpd answer 535 itself; handled=True without a reply hangs the client.
            return AuthResult(success=ok, handled=False)

        options = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False}

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(handler, hostname=host, **options), host, 0)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
        await stop.wait()
        server.close()
        await server.wait_closed()

    asyncio.run(serve())


if __name__ == "__main__":
    main()

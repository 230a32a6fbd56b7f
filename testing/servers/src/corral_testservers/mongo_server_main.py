"""Process body of the Mongo test server: ``python -m corral_testservers.mongo_server_main HOST DATADIR``.

Binds a free port, creates the SCRAM user (from ``CORRAL_MONGO_USER`` / ``CORRAL_MONGO_PASSWORD``) while
auth is off, then requires auth, prints ``ready PORT`` and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from typing import Any


def main() -> None:
    import pymongo
    from secantus import SecantusDBServer

    host, datadir = sys.argv[1], sys.argv[2]
    user, password = os.environ["CORRAL_MONGO_USER"], os.environ["CORRAL_MONGO_PASSWORD"]
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    server = SecantusDBServer(
        host=host, port=0, storage_path=datadir, replica_set_name=None,
        require_auth=False, enable_test_commands=False, cache_size="128M",
    )  # fmt: skip
    server.start()
    # No localhost exception: the user has to exist before auth is switched on.
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        host, server.port, directConnection=True
    )
    with client:
        client.admin.command("createUser", user, pwd=password, roles=[{"role": "root", "db": "admin"}])
    server.require_auth = True
    print(f"ready {server.port}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    listener = getattr(server, "_socket", None)
    if listener is not None:  # close() alone leaves accept() blocked and stop() waits 2 s for it
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
    server.stop()


if __name__ == "__main__":
    main()

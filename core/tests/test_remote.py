"""corral.remote's retry decision on errors raised by real sockets: a dead connection is retried, a refusal is not."""

from __future__ import annotations

import errno
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from corral.remote import RemoteFileSystem, Retry, StorageClosed, clean_error, is_transient
from corral.testing.storage_contract import raised


def send_on_a_socket_another_thread_closed() -> None:
    """smbprotocol's race: its reader thread saw the reset and closed the socket; the writer still sends."""
    ours, theirs = socket.socketpair()
    ours.close()
    theirs.close()
    ours.send(b"x")


def send_to_a_peer_that_is_gone() -> None:
    ours, theirs = socket.socketpair()
    theirs.close()
    ours.send(b"x")


def read_from_a_peer_that_reset() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()  # RST
        time.sleep(0.05)
        client.recv(1)


def read_from_a_silent_peer() -> None:
    ours, _theirs = socket.socketpair()
    ours.settimeout(0.01)
    ours.recv(1)


def connect_to_a_closed_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    socket.create_connection(("127.0.0.1", port), timeout=5)


def read_past_the_end() -> None:
    raise EOFError("the server closed the connection")  # what ftplib and paramiko raise on a closed stream


@pytest.mark.parametrize(
    "action",
    [send_on_a_socket_another_thread_closed, send_to_a_peer_that_is_gone, read_from_a_peer_that_reset,
     read_from_a_silent_peer, connect_to_a_closed_port, read_past_the_end],
)  # fmt: skip
def test_a_dead_or_refused_connection_is_retried(action: Callable[[], None]) -> None:
    exc = raised(action)
    assert is_transient(clean_error(exc)), f"{type(exc).__name__}: {exc}"


def test_bad_file_descriptor_from_a_socket_is_the_race_of_issue_10() -> None:
    exc = raised(send_on_a_socket_another_thread_closed)
    assert isinstance(exc, OSError) and exc.errno == errno.EBADF and not isinstance(exc, ConnectionError)


def missing_file(tmp_path: Path) -> None:
    (tmp_path / "missing").read_bytes()


def a_folder_where_a_file_goes(tmp_path: Path) -> None:
    tmp_path.write_bytes(b"x")


def a_full_disk(tmp_path: Path) -> None:
    with open("/dev/full", "wb", buffering=0) as full:
        full.write(b"x")


@pytest.mark.parametrize("action", [missing_file, a_folder_where_a_file_goes, a_full_disk])
def test_not_found_and_no_space_are_not_retried(action: Callable[[Path], None], tmp_path: Path) -> None:
    exc = raised(lambda: action(tmp_path))
    assert not is_transient(clean_error(exc)), f"{type(exc).__name__}: {exc}"


def test_permission_and_authentication_refusals_are_not_retried() -> None:
    for refusal in (PermissionError(errno.EACCES, "denied"), PermissionError(errno.EPERM, "not permitted")):
        assert not is_transient(clean_error(refusal))


class FlakyFolder:
    """A protocol filesystem whose first upload dies with the race's real EBADF, as smbprotocol's did."""

    uploads = 0

    def __init__(self) -> None:
        self.connection = FlakyFolder.uploads

    def put_file(self, lpath: str, rpath: str, **kwargs: Any) -> None:
        FlakyFolder.uploads += 1
        if FlakyFolder.uploads == 1:
            send_on_a_socket_another_thread_closed()


def test_the_wrapper_retries_a_bad_file_descriptor_on_a_new_connection() -> None:
    FlakyFolder.uploads = 0
    connections: list[FlakyFolder] = []

    def connect() -> Any:
        connections.append(FlakyFolder())
        return connections[-1]

    fs = RemoteFileSystem(connect, label="test://server", translate=lambda exc, action: None,
                          retry=Retry(attempts=2, first_wait=0.01))  # fmt: skip
    fs.put_file("/dev/null", "/x")
    assert FlakyFolder.uploads == 2 and len(connections) == 2


def test_a_closed_storage_is_never_reconnected_nor_retried() -> None:
    connections: list[object] = []
    fs = RemoteFileSystem(lambda: connections.append(object()) or FlakyFolder(), label="test://server",
                          translate=lambda exc, action: None, retry=Retry(attempts=5, first_wait=10))  # fmt: skip
    fs.close()
    started = time.monotonic()
    with pytest.raises(StorageClosed, match="test://server: cannot upload to `/x`: the connection was closed"):
        fs.put_file("/dev/null", "/x")
    assert time.monotonic() - started < 1 and len(connections) == 1

"""Make a running test server hang or die, found by its port, to test what a client does when that happens.

A server found here is one the test suite started (a ``start_*`` instance): the processes listening on the port
and every process they forked (per-connection children of sshd, vsftpd and smbd).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from .ports import HOST

_LISTEN = "0A"


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == _LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(inode)
    return inodes


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def listening_pids(port: int) -> list[int]:
    """Processes with a socket listening on ``port``."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    found = []
    for pid in _pids():
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                        found.append(pid)
                        break
    return found


def server_pids(port: int) -> list[int]:
    """The processes listening on ``port`` and all their descendants."""
    roots = set(listening_pids(port))
    if not roots:
        raise LookupError(f"nothing listens on port {port}")
    parents = {pid: _parent(pid) for pid in _pids()}
    family = set(roots)
    grew = True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in family} - family
        family |= children
        grew = bool(children)
    return sorted(family)


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@contextlib.contextmanager
def frozen(port: int) -> Iterator[list[int]]:
    """SIGSTOP the server on ``port`` (it keeps its sockets open but answers nothing) until the block exits."""
    pids = server_pids(port)
    _signal(pids, signal.SIGSTOP)
    try:
        yield pids
    finally:
        _signal(pids, signal.SIGCONT)


def kill(port: int) -> list[int]:
    """SIGKILL the server on ``port`` and its children: connections reset, nothing is cleaned up."""
    pids = server_pids(port)
    _signal(pids, signal.SIGKILL)
    return pids


def kill_connections(port: int) -> list[int]:
    """SIGKILL the per-connection children of the server on ``port``, not the server: clients see a reset."""
    children = sorted(set(server_pids(port)) - set(listening_pids(port)))
    _signal(children, signal.SIGKILL)
    return children


class TCPProxy:
    """Forwards a port of its own to ``127.0.0.1:target``; ``cut()`` resets every open connection while the
    server stays up (for servers without a process per connection, such as wsgidav or SeaweedFS)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self._listener = socket.create_server((HOST, 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="tcp-proxy").start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((HOST, self.target), timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def cut(self) -> int:
        """Reset every connection open now (RST, as a crashed middlebox would); returns how many."""
        with self._lock:
            doomed, self._open = self._open, set()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
        return len(doomed) // 2

    def close(self) -> None:
        self._listener.close()
        self.cut()


@contextlib.contextmanager
def tcp_proxy(target: int) -> Iterator[TCPProxy]:
    """A :class:`TCPProxy` to ``target`` for the duration of the block."""
    proxy = TCPProxy(target)
    try:
        yield proxy
    finally:
        proxy.close()


@contextlib.contextmanager
def blackhole() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) but never says anything: a hung server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]
    finally:
        sock.close()

"""Free TCP ports on 127.0.0.1, picked below the kernel's ephemeral range so outgoing connections can't
take them between the probe and the server's bind."""

from __future__ import annotations

import contextlib
import random
import socket
from pathlib import Path

HOST = "127.0.0.1"
_LOWEST = 20000


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bind(port: int, host: str = HOST) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        return None
    return sock


def free_ports(count: int, host: str = HOST) -> list[int]:
    """``count`` distinct free ports (all probed while held, so they differ from each other)."""
    high = max(_ephemeral_start() - 1, _LOWEST + 1000)
    held: list[socket.socket] = []
    try:
        for _ in range(count * 200):
            if len(held) == count:
                break
            sock = _bind(random.randint(_LOWEST, high), host)
            if sock is not None:
                held.append(sock)
        if len(held) < count:
            raise RuntimeError(f"could not find {count} free ports on {host}")
        return [s.getsockname()[1] for s in held]
    finally:
        for sock in held:
            sock.close()


def free_port(host: str = HOST) -> int:
    """One free port."""
    return free_ports(1, host)[0]


def free_port_range(size: int, host: str = HOST) -> int:
    """First port of ``size`` consecutive free ports (an FTP passive range, say)."""
    high = max(_ephemeral_start() - size, _LOWEST + 1000)
    for _ in range(200):
        first = random.randint(_LOWEST, high)
        with contextlib.ExitStack() as stack:
            for port in range(first, first + size):
                sock = _bind(port, host)
                if sock is None:
                    break
                stack.callback(sock.close)
            else:
                return first
    raise RuntimeError(f"could not find {size} consecutive free ports on {host}")


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def read_banner(port: int, host: str = HOST, timeout: float = 2.0) -> bytes:
    """First bytes a server sends after accepting a connection (b'' when none or on error)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            return sock.recv(256)
    except OSError:
        return b""

"""Uploads at scp's speed: SFTP writes framed by hand, as large as the server takes, with a window of acks.

paramiko's pipelined ``SFTPFile.write`` sends 32 KiB requests, copies each one several times while framing it,
and once more than 100 are outstanding and an ack is there, waits for *all* their acks, which empties the pipeline
(ssh and the server sit idle) every 3 MiB. Here each request is as large as the server says it accepts (OpenSSH's
``limits@openssh.com``: 255 KiB; 32 KiB, the size every SFTP server takes, without it), its header and bytes go
to the pipe in one ``sendmsg`` without a copy, and one ack is read whenever the window of requests in flight is
full, so the pipe never drains. Python's work per byte is the kernel's copy into the pipe.

:class:`Upload` is a writer: bytes pushed into it (a file read in blocks, or a stream a dump produces) go out as
they come, in bounded memory.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import paramiko
from paramiko.sftp import CMD_EXTENDED, CMD_EXTENDED_REPLY, CMD_STATUS, CMD_WRITE, SFTP_OK, SFTPError

if TYPE_CHECKING:
    from corral_storage_ssh.openssh import Pipe, SFTPClient

Buffer = bytes | bytearray | memoryview
log = logging.getLogger(__name__)

#: what every SFTP server must take (draft-ietf-secsh-filexfer-02: 32768 bytes of data per write)
SAFE_WRITE = 32768
#: OpenSSH's sftp-server takes 256 KiB messages and announces 255 KiB writes; more would be a broken server's word
LARGEST_WRITE = 256 * 1024
#: bytes in flight before the oldest ack is awaited: enough to keep ssh and the server busy, bounded memory
WINDOW_BYTES = 8 * 1024 * 1024


def write_size(sftp: SFTPClient) -> int:
    """The largest write the server takes: its ``limits@openssh.com`` answer (OpenSSH 8.6+), else 32 KiB."""
    if "limits@openssh.com" not in sftp.extensions:
        return SAFE_WRITE
    kind, reply = sftp._request(CMD_EXTENDED, "limits@openssh.com")
    if kind != CMD_EXTENDED_REPLY:
        return SAFE_WRITE
    _packet, _read, write, _handles = (reply.get_int64() for _ in range(4))
    return max(SAFE_WRITE, min(write, LARGEST_WRITE)) if write else SAFE_WRITE


class Readable(Protocol):
    """A binary file or stream: ``readinto`` fills a buffer, 0 at the end."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


class Upload:
    """Pipelined SFTP writes into an open handle, from offset 0; :meth:`finish` waits for every ack.

    Request ids come from paramiko's counter, so the client's later requests never reuse one; acks are read here
    (the client's ``_read_response`` would skip any left unread after an error).
    """

    def __init__(self, sftp: SFTPClient, pipe: Pipe, handle: bytes, chunk: int,
                 background_sync: Callable[[Upload], BackgroundSync] | None = None) -> None:  # fmt: skip
        self.background_sync = background_sync
        self.sync: BackgroundSync | None = None
        self.sftp = sftp
        self.pipe = pipe
        self.handle = handle
        self.chunk = chunk
        self.offset = 0
        self.in_flight: dict[int, int] = {}  # request id -> bytes
        self.in_flight_bytes = 0
        self.window = max(WINDOW_BYTES, 4 * chunk)
        self.pending = bytearray()  # the start of a request smaller than `chunk` so far
        self._prefix = struct.pack(">I", len(handle)) + handle

    def write(self, data: Buffer) -> int:
        """Send ``data`` (any size), keeping a tail smaller than a request until more comes or :meth:`finish`."""
        view = memoryview(data).cast("B")
        size = len(view)
        if self.pending:
            room = self.chunk - len(self.pending)
            self.pending += view[:room]
            view = view[room:]
            if len(self.pending) < self.chunk:
                return size
            self._send(memoryview(self.pending))
            self.pending.clear()
        while len(view) >= self.chunk:
            self._send(view[: self.chunk])
            view = view[self.chunk :]
        if view:
            self.pending += view
        return size

    def readfrom(self, source: Readable) -> int:
        """Send everything ``source`` (a binary file or stream with ``readinto``) still holds; bytes sent."""
        buffer = bytearray(self.chunk)
        view = memoryview(buffer)
        total = 0
        while True:
            got = source.readinto(view)
            if not got:
                return total
            self.write(view[:got])
            total += got

    def finish(self) -> None:
        """Send the tail and wait for every ack: afterwards the server has every byte (in its page cache)."""
        if self.pending:
            self._send(memoryview(self.pending))
            self.pending.clear()
        while self.in_flight:
            self._ack()
        if self.sync is not None:
            self.sync.stop()

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sync is not None:
            self.sync.stop(wait=False)

    def _send(self, data: memoryview) -> None:
        while self.in_flight and self.in_flight_bytes + len(data) > self.window:
            self._ack()
        with self.sftp._lock:
            number = self.sftp.request_number
            self.sftp.request_number += 1
        header = (struct.pack(">IBI", 1 + 4 + len(self._prefix) + 8 + 4 + len(data), CMD_WRITE, number)
                  + self._prefix + struct.pack(">QI", self.offset, len(data)))  # fmt: skip
        self.pipe.send_all(header, data)
        self.in_flight[number] = len(data)
        self.in_flight_bytes += len(data)
        self.offset += len(data)
        if self.sync is None and self.background_sync is not None and self.offset >= SYNC_AFTER:
            self.sync = self.background_sync(self)

    def _ack(self) -> None:
        kind, data = self.sftp._read_packet()
        reply = paramiko.Message(data)
        number = reply.get_int()
        size = self.in_flight.pop(number, None)
        if size is None:  # not one of ours: an answer the client gave up on before this upload
            return
        self.in_flight_bytes -= size
        if kind != CMD_STATUS:
            raise SFTPError(f"Expected status, got SFTP message {kind}")
        if reply.get_int() != SFTP_OK:
            reply.rewind()
            reply.get_int()
            self.sftp._convert_status(reply)  # the server's error as paramiko raises it (IOError with errno...)


#: the background fsync starts once this much was sent (a small archive's one fsync at the end is quick)...
SYNC_AFTER = 64 * 1024 * 1024
#: ...and asks for another after this much more, so the server's disk writes while the rest still arrives
SYNC_EVERY = 64 * 1024 * 1024
#: how long a failed upload waits for the second session to go (a login in progress ends by its own timeout)
STOP_WITHIN = 5.0


class BackgroundSync:
    """fsync@openssh.com of the file being uploaded, over a second SFTP channel, while the upload goes on.

    OpenSSH's sftp-server answers one request at a time, so an fsync on the upload's own channel would stop the
    writes while the disk works; and a server with plenty of memory starts writing a file back only when it is
    fsync'd (or 30 s later): the whole archive would hit the disk after its last byte arrived. A second
    sftp-server (through the first connection's ssh, no second login) fsyncs it every ``SYNC_EVERY`` bytes
    instead, so the disk writes while the network sends, and the upload's own fsync before the rename (still the
    guarantee) finds little left to write.

    Best effort: any failure stops it quietly; the upload's own fsync does not depend on it.
    """

    def __init__(self, connect: Callable[[], Any], path: str, upload: Upload) -> None:
        self.connect = connect
        self.path = path
        self.upload = upload
        self.stopped = threading.Event()
        self.session: Any = None
        self.syncs = 0  # fsyncs done
        self.thread = threading.Thread(target=self._run, name=f"corral-sftp-sync {path}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.session = self.connect()
            sftp = self.session.sftp
            self.session.pipe.settimeout(None)  # the disk takes what it takes; ssh's keepalives catch a dead server
            with sftp.open(self.path, "rb") as file:  # fsync works on any handle of the file
                synced = 0
                while not self.stopped.wait(0.05):
                    sent = self.upload.offset
                    if sent - synced >= SYNC_EVERY:
                        sftp._request(CMD_EXTENDED, "fsync@openssh.com", file.handle)
                        self.syncs += 1
                        synced = sent
        except Exception as exc:  # best effort: the upload's own fsync is the guarantee
            if not self.stopped.is_set():
                log.debug("background fsync of %s stopped: %s", self.path, exc)
        finally:
            if self.session is not None:
                self.session.close()

    def stop(self, wait: bool = True) -> None:
        """With ``wait``, let an fsync in progress end (its writes are the ones the upload's own fsync would
        do); without (the upload failed), end the second session at once. Safe to call twice."""
        self.stopped.set()
        if not wait and self.session is not None:
            self.session.close()  # its ssh exits: a read waiting on the server returns
        self.thread.join(None if wait else STOP_WITHIN)

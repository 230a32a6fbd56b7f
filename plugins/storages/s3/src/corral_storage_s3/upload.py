"""All-or-nothing upload of one local file to S3 with bounded memory and no silent hang.

Small files go in one PUT. Larger ones become a multipart upload: ``max_concurrency`` workers each read one part
straight from its offset in the file into a buffer of their own and send it, so the parts in memory never
exceed ``max_concurrency`` and the connections stay busy (s3fs's own ``put_file`` reads a whole wave of parts
into memory and waits for the slowest one). The upload is completed only after every part arrived; on any
failure, cancellation included, it is aborted, so neither an object nor a dangling upload remains.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import io
import logging
import math
import os
from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from corral_storage_s3.options import MAX_PART

log = logging.getLogger("corral")
T = TypeVar("T")
MAX_PARTS = 10_000
MAX_BACKOFF = 20  # botocore's standard retry mode waits at most this long between attempts


class StalledRequest(ConnectionError):
    """A request stopped making progress (not a TimeoutError: fsspec's ``sync`` would replace it, message and all)."""


class S3Caller(Protocol):
    async def _call_s3(self, method: str, *args: Any, **kwargs: Any) -> Any: ...


def read_part(fd: int, offset: int, length: int, part: io.BytesIO | None = None) -> io.BytesIO:
    """Exactly ``length`` bytes at ``offset``, read straight into ``part`` (reused) or a new buffer.

    The body is a ``BytesIO`` that owns its memory: given ``bytes``, botocore wraps them in a ``BytesIO`` that
    shares them, and aiohttp then copies the whole part to take a view of it. Reusing one buffer per worker also
    keeps the heap from fragmenting with a fresh 8-64 MB block per part.
    """
    if part is None:
        part = io.BytesIO()
    with part.getbuffer() as view:
        size = view.nbytes
    if length < size:
        part.truncate(length)
    elif length > size:
        part.seek(length - 1)
        part.write(b"\0")
    if length:
        with part.getbuffer() as view:
            done = 0
            while done < length:
                count = os.preadv(fd, [view[done:]], offset + done)
                if count == 0:  # a file that shrank is an error, never a short object
                    raise OSError(f"the local file shrank while it was uploaded ({length - done} bytes missing)")
                done += count
    part.seek(0)
    return part


class Uploader:
    """Uploads through s3fs's ``_call_s3`` (botocore's timeouts and retries), each request watched for stalls."""

    def __init__(self, s3: S3Caller, *, part_size: int, concurrency: int, timeout: float, retries: int,
                 extra: dict[str, Any]) -> None:  # fmt: skip
        self.s3 = s3
        self.part_size = part_size
        self.concurrency = concurrency
        self.timeout = timeout
        # what botocore itself may take: every attempt's connect and read timeouts, and the waits between them
        self.backstop = (retries + 1) * (2 * timeout + MAX_BACKOFF)
        self.extra = extra  # StorageClass and the like, for PUT and CreateMultipartUpload

    async def call(self, method: str, body: io.BytesIO | None = None, **kwargs: Any) -> Any:
        """``_call_s3`` under a watchdog.

        botocore's timeouts cover connecting and waiting for the answer, not a body that stops draining because
        the server stopped reading: that would hang forever. aiohttp reads the body as it sends it, so a body
        whose position has not moved for ``timeout`` seconds mid-way is a stalled request.
        """
        if body is not None:
            kwargs["Body"] = body
            length = body.getbuffer().nbytes
        task = asyncio.ensure_future(self.s3._call_s3(method, **kwargs))
        last, idle = -1, 0.0
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.timeout)
                if done:
                    return task.result()
                position = body.tell() if body is not None else -1
                idle = 0.0 if position != last else idle + self.timeout
                last = position
                mid_body = body is not None and 0 < position < length
                if idle >= (self.timeout if mid_body else self.backstop):
                    what = f"sent no data for {idle:.0f} s" if mid_body else f"got no answer in {idle:.0f} s"
                    raise StalledRequest(f"{method} {what}")
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def upload(self, local_path: str, bucket: str, key: str) -> dict[str, Any]:
        """Returns the server's answer (``ETag``...) to the PUT or the CompleteMultipartUpload."""
        fd = os.open(local_path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            if size <= self.part_size:
                body = await asyncio.to_thread(read_part, fd, 0, size)
                return await self.call("put_object", body, Bucket=bucket, Key=key, **self.extra)
            return await self._multipart(fd, size, bucket, key)
        finally:
            os.close(fd)

    async def _multipart(self, fd: int, size: int, bucket: str, key: str) -> dict[str, Any]:
        part_size = max(self.part_size, math.ceil(size / MAX_PARTS))
        count = math.ceil(size / part_size)
        created = await self.call("create_multipart_upload", Bucket=bucket, Key=key, **self.extra)
        upload_id = created["UploadId"]
        try:
            etags = await self._parts(fd, size, part_size, count, bucket, key, upload_id)
            parts = [{"PartNumber": number, "ETag": etag} for number, etag in enumerate(etags, 1)]
            return await self.call("complete_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id,
                                   MultipartUpload={"Parts": parts})  # fmt: skip
        except BaseException:
            # shielded: a cancelled upload is still aborted, or the bucket keeps paying for its parts
            await asyncio.shield(self._abort(bucket, key, upload_id))
            raise

    async def _parts(
        self, fd: int, size: int, part_size: int, count: int, bucket: str, key: str, upload_id: str
    ) -> list[str]:
        etags: list[str] = [""] * count
        numbers = iter(range(1, count + 1))
        sent = 0

        async def worker() -> None:
            nonlocal sent
            body = None
            for number in numbers:  # a shared iterator: each worker takes the next part number
                offset = (number - 1) * part_size
                length = min(part_size, size - offset)
                body = await asyncio.to_thread(read_part, fd, offset, length, body)
                answer = await self.call("upload_part", body, Bucket=bucket, Key=key, UploadId=upload_id,
                                         PartNumber=number)  # fmt: skip
                etags[number - 1] = answer["ETag"]
                sent += length

        try:
            async with asyncio.TaskGroup() as group:  # the first failure cancels the other workers
                for _ in range(min(self.concurrency, count)):
                    group.create_task(worker())
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        if sent != size or not all(etags):
            raise OSError(f"upload is incomplete: {sent} of {size} bytes sent")
        return etags

    async def _abort(self, bucket: str, key: str, upload_id: str) -> None:
        try:
            await self.call("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception as exc:  # the original error matters more; a bucket lifecycle rule reaps what stays
            log.warning("cannot abort the multipart upload of `%s` (%s): its parts stay until a lifecycle rule "
                        "(AbortIncompleteMultipartUpload) removes them", key, type(exc).__name__)


#: a stream's parts double in size every this many parts, so that 10,000 parts reach S3's 5 TB object limit
GROWTH = 1000


class StreamedUpload:
    """A stream's upload (``corral_storage_open_upload``): a multipart upload fed from the chunks as they come.

    The chunks fill a part of ``part_size``; each full part is sent on s3fs's event loop while the next one
    fills, up to ``max_concurrency`` parts in flight (a writer that gets ahead waits for the oldest): memory is
    about ``part_size x (max_concurrency + 1)``. The size of a stream is not known in advance, so parts double
    every :data:`GROWTH` parts (8 GB with 8 MiB parts) and fewer of them fly at once, keeping the bytes in flight
    under ``part_size x max_concurrency`` plus the part that fills. The multipart upload is created with the
    first full part (a stream that fits in one part is one PUT at commit) and completed only at ``commit``, after
    the size check; ``abort`` aborts it, so no object and no billed parts remain.
    """

    def __init__(self, uploader: Uploader, loop: asyncio.AbstractEventLoop, bucket: str, key: str,
                 errors: Callable[[], AbstractContextManager[None]]) -> None:  # fmt: skip
        self.uploader, self.loop, self.bucket, self.key, self.errors = uploader, loop, bucket, key, errors
        self.part = io.BytesIO()
        self.received = 0
        self.upload_id: str | None = None
        self.etags: list[str] = []
        self.in_flight: collections.deque[tuple[int, concurrent.futures.Future[Any]]] = collections.deque()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def _part_size(self) -> int:
        return min(self.uploader.part_size * 2 ** (len(self.etags) // GROWTH), MAX_PART)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        with self.errors():
            while view:
                room = self._part_size() - self.part.tell()
                self.part.write(view[:room])
                view = view[room:]
                if self.part.tell() == self._part_size():
                    self._send(self.part)
                    self.part = io.BytesIO()
        self.received += len(data)

    def _send(self, body: io.BytesIO) -> None:
        if self.upload_id is None:
            created = self._run(self.uploader.call("create_multipart_upload", Bucket=self.bucket, Key=self.key,
                                                   **self.uploader.extra)).result()  # fmt: skip
            self.upload_id = created["UploadId"]
        body.seek(0)
        self.etags.append("")
        number = len(self.etags)
        budget = self.uploader.part_size * self.uploader.concurrency
        while self.in_flight and len(self.in_flight) >= max(1, budget // self._part_size()):
            self._settle_oldest()
        future = self._run(self.uploader.call("upload_part", body, Bucket=self.bucket, Key=self.key,
                                              UploadId=self.upload_id, PartNumber=number))  # fmt: skip
        self.in_flight.append((number, future))

    def _settle_oldest(self) -> None:
        number, future = self.in_flight.popleft()
        self.etags[number - 1] = future.result()["ETag"]

    def commit(self, size: int) -> None:
        """Send the last part, wait for every part, check the size, complete (or one PUT for a small stream)."""
        with self.errors():
            if self.received != size:
                raise OSError(f"upload of `{self.key}` is incomplete: {self.received} of {size} bytes arrived")
            if self.upload_id is None:
                body = self.part
                body.seek(0)
                self._run(self.uploader.call("put_object", body, Bucket=self.bucket, Key=self.key,
                                             **self.uploader.extra)).result()  # fmt: skip
                return
            if self.part.tell():
                self._send(self.part)
            while self.in_flight:
                self._settle_oldest()
            parts = [{"PartNumber": number, "ETag": etag} for number, etag in enumerate(self.etags, 1)]
            self._run(self.uploader.call("complete_multipart_upload", Bucket=self.bucket, Key=self.key,
                                         UploadId=self.upload_id, MultipartUpload={"Parts": parts})).result()

    def abort(self, error: BaseException | None) -> None:
        """Cancel the parts in flight and abort the multipart upload; after ``error`` from a server that stopped
        answering, leave it (a lifecycle rule reaps it) rather than wait for more timeouts, and say so."""
        for _, future in self.in_flight:
            future.cancel()
        for _, future in self.in_flight:
            with contextlib.suppress(BaseException):
                future.result()
        self.in_flight.clear()
        self.part = io.BytesIO()
        if self.upload_id is None:
            return
        from corral import StorageUnreachable
        from corral.remote import is_transient

        if error is not None and (is_transient(error) or isinstance(error, StorageUnreachable | StalledRequest)):
            error.add_note("its multipart upload stays on the server until an AbortIncompleteMultipartUpload "
                           "lifecycle rule removes it")
            return
        self._run(self.uploader._abort(self.bucket, self.key, self.upload_id)).result()
        self.upload_id = None

"""The relay between redis-cli and the compressor keeps every byte but the last 40, however the pipe splits them."""

from __future__ import annotations

import io
import os
import threading

import pytest

from corral_source_redis.snapshot import EOF_MARK, SnapshotError, _relay


def relay_in_pieces(data: bytes, sizes: list[int]) -> tuple[int, bytes, bytes]:
    read_end, write_end = os.pipe()

    def feed() -> None:
        offset = 0
        for size in sizes:
            os.write(write_end, data[offset:offset + size])
            offset += size
        os.write(write_end, data[offset:])
        os.close(write_end)

    feeder = threading.Thread(target=feed)
    feeder.start()
    sink = io.BytesIO()
    with os.fdopen(read_end, "rb") as source:
        received, held = _relay(source, sink)
    feeder.join()
    return received, held, sink.getvalue()


@pytest.mark.parametrize("sizes", [[], [3, 1, 7, 39, 1, 40, 41], [5] * 30, [100_000, 1, 2, 3]])
def test_everything_but_the_mark_goes_through(sizes: list[int]) -> None:
    data = b"REDIS0010" + os.urandom(150_000) + b"f" * EOF_MARK
    received, held, written = relay_in_pieces(data, sizes)
    assert received == len(data)
    assert held == data[-EOF_MARK:]
    assert written == data[:-EOF_MARK]


def test_output_that_is_not_an_rdb_is_refused() -> None:
    with pytest.raises(SnapshotError, match="not an RDB file"):
        relay_in_pieces(b"-ERR something\r\n" * 10, [])

"""A thread that copies one stream into a program's stdin (age, a decompressor), then closes it."""

from __future__ import annotations

import threading
from typing import BinaryIO

CHUNK = 1 << 20


class Pump(threading.Thread):
    """Copies ``source`` into ``sink`` until EOF, then closes ``sink`` (the program then writes its last block).

    A source with a ``finish()`` (a decrypting stream) is asked at EOF whether it was whole. ``error``: what broke
    the copy (a program that died shows as BrokenPipeError; the program's own exit status says why).
    """

    def __init__(self, source: BinaryIO, sink: BinaryIO, name: str) -> None:
        super().__init__(daemon=True, name=name)
        self.source, self.sink = source, sink
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            while data := self.source.read(CHUNK):
                self.sink.write(data)
            finish = getattr(self.source, "finish", None)
            if callable(finish):
                finish()
        except Exception as exc:
            self.error = exc
        finally:
            try:
                self.sink.close()
            except OSError as exc:
                self.error = self.error or exc

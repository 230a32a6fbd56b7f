"""Encryption for recipients the server does not hold: every archive goes through the ``age`` program.

The stream from the source is piped through ``age --encrypt -r KEY... [-R FILE]`` on its way to the storages, so no
plaintext reaches a storage and, for a streamed source, none touches the local disk either; only public keys live
on the server. The stored archive is an ordinary age file (``.tar.zst.age``): ``age -d -i key.txt FILE | tar -x
--zstd`` restores it without corral (docs/encryption.md).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, cast

from corral.archive import Archive, RemoteFile, StreamedArchive
from corral.children import die_with_corral
from corral.config.models import Encrypt
from corral.errors import CorralError, DumpError
from corral.pump import Pump
from corral.run import RunContext

SUFFIX = "age"
CHUNK = 1 << 20


def age_command(settings: Encrypt) -> list[str]:
    """``age --encrypt`` for the recipients (public keys only: nothing secret in the arguments)."""
    command = ["age", "--encrypt"]
    for key in settings.recipients:  # recipients_file's keys among them, read when the config was checked
        command += ["--recipient", key]
    return command


def as_stream(archive: Archive) -> StreamedArchive:
    """A finished file read as a stream; it is deleted once read (unless it is not corral's: ``keep``)."""
    reader = archive.path.open("rb")

    def finish() -> tuple[str, ...]:
        reader.close()
        if not archive.keep:
            archive.path.unlink(missing_ok=True)
        return archive.warnings

    return StreamedArchive(reader=reader, finish=finish, target=archive.target, extension=archive.extension,
                           subdir=archive.subdir, made=archive.made, facts=archive.facts)


def encrypted(item: StreamedArchive, settings: Encrypt, run: RunContext, work_dir: Path) -> StreamedArchive:
    """``item`` piped through ``age``: the same archive, encrypted, named ``<extension>.age``."""
    if shutil.which("age") is None:
        raise DumpError("`encrypt` needs the age program: apt install age")
    errors = tempfile.TemporaryFile(dir=work_dir)  # noqa: SIM115 (closed by finish)
    process = run.popen(age_command(settings), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
    pump = Pump(item.reader, cast(BinaryIO, process.stdin), "corral-age-feed")
    reader = cast(BinaryIO, process.stdout)

    def finish() -> tuple[str, ...]:
        reader.close()
        pump.join()
        code = process.wait()
        run.forget(process)
        errors.seek(0)
        said = [line for line in errors.read().decode(errors="replace").splitlines() if line.strip()]
        errors.close()
        warnings = item.finish()  # the dump's own failure comes first
        if code != 0:
            raise DumpError(f"age could not encrypt the archive: {said[-1] if said else f'exit code {code}'}")
        if pump.error is not None:
            raise DumpError(f"the archive could not be fed to age: {pump.error}")
        return warnings

    return dataclasses.replace(item, reader=reader, finish=finish, extension=f"{item.extension}.{SUFFIX}")


class DecryptingStorage:
    """A job's storage as a restore sees it with ``--identity``: every ``NAME.age`` listed as ``NAME`` and fetched
    decrypted (``age -d -i IDENTITY``), so a source's restore works on encrypted archives unchanged."""

    def __init__(self, storage: Any, identity: Path) -> None:
        self.storage, self.identity = storage, identity
        self.root, self.name, self.label = storage.root, storage.name, storage.label
        self._encrypted: dict[str, str] = {}

    def list(self) -> list[RemoteFile]:
        files = []
        for remote in self.storage.list():
            if remote.path.endswith(f".{SUFFIX}"):
                plain = remote.path[: -len(SUFFIX) - 1]
                self._encrypted[plain] = remote.path
                remote = RemoteFile(plain, remote.size, remote.link)
            files.append(remote)
        return files

    def get(self, remote: str, local: Path) -> None:
        """Fetch ``remote``; an encrypted one (asked for by its listed plain name or by its own ``.age`` name)
        is decrypted into ``local``."""
        encrypted = remote if remote.endswith(f".{SUFFIX}") else self._encrypted.get(remote)
        if encrypted is None:
            self.storage.get(remote, local)
            return
        sealed = local.with_name(f".{local.name}.age")
        try:
            self.storage.get(encrypted, sealed)
            decrypt(sealed, local, self.identity, encrypted)
        finally:
            sealed.unlink(missing_ok=True)


    def open_read(self, remote: str) -> BinaryIO:
        """``remote`` as a stream: decrypted on the way when it is an age file (see :class:`DecryptedStream`)."""
        encrypted = remote if remote.endswith(f".{SUFFIX}") else self._encrypted.get(remote)
        if encrypted is None:
            return cast(BinaryIO, self.storage.open_read(remote))
        return cast(BinaryIO, DecryptedStream(self.storage.open_read(encrypted), self.identity, encrypted))


class DecryptedStream:
    """An age file's plaintext as it is decrypted (``age -d -i IDENTITY``, fed from the stored stream by a thread).

    ``finish()`` at EOF raises :class:`CorralError` when age failed (a wrong key, a truncated or altered file):
    age checks each 64 KiB block as it goes, so a reader that took the bytes before must not take them as whole.
    """

    def __init__(self, sealed: BinaryIO, identity: Path, name: str) -> None:
        _need_age()
        self.sealed, self.name = sealed, name
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by finish)
        self.process = subprocess.Popen(["age", "--decrypt", "--identity", str(identity)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.errors, preexec_fn=die_with_corral())
        self.pump = Pump(sealed, cast(BinaryIO, self.process.stdin), "corral-age-decrypt")

    def read(self, size: int = -1) -> bytes:
        return cast(BinaryIO, self.process.stdout).read(size)

    def finish(self) -> None:
        self.close()
        code = self.process.returncode
        if code != 0:
            self.errors.seek(0)
            raise CorralError(f"cannot decrypt `{self.name}`: {_age_reason(self.errors.read(), code)}")
        if self.pump.error is not None:
            raise CorralError(f"cannot read `{self.name}`: {self.pump.error}")

    def close(self) -> None:
        if self.process.returncode is None:
            cast(BinaryIO, self.process.stdout).close()
            self.pump.join()
            self.process.wait()
            self.sealed.close()


def decrypt(sealed: Path, plain: Path, identity: Path, name: str) -> None:
    """``age -d -i IDENTITY -o PLAIN SEALED``; a wrong or missing key is one line naming the archive."""
    _need_age()
    done = subprocess.run(["age", "--decrypt", "--identity", str(identity), "--output", str(plain), str(sealed)],
                          capture_output=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        plain.unlink(missing_ok=True)
        raise CorralError(f"cannot decrypt `{name}` with `{identity}`: {_age_reason(done.stderr, done.returncode)}")


def _need_age() -> None:
    if shutil.which("age") is None:
        raise CorralError("decrypting needs the age program: apt install age")


def _age_reason(stderr: bytes, code: int) -> str:
    """age's cause in one line (its last ``age: error:`` line, not the "report unexpected errors" footer)."""
    said = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    said = [line for line in said if line.startswith("age: error: ")] or said
    return said[-1].removeprefix("age: error: ") if said else f"exit code {code}"

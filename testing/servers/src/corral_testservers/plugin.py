"""pytest plugin (entry point ``pytest11``): session fixtures that start each server on first use.

Every fixture is a thin wrapper over the ``start_*`` context manager of the same server, run in a directory
under one session root that other Unix users can traverse. Set ``CORRAL_KEEP_SERVER_DIRS=1`` to keep the
root (data and logs) after the session.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .ftp_server import FTPServer, start_ftp
from .mariadb_server import MariaDB, start_mariadb
from .mongo_server import Mongo, start_mongo
from .nfs_server import NFSServer, start_nfs
from .postgres_server import Postgres, start_postgres
from .redis_server import Redis, start_redis
from .s3_server import S3Server, start_s3
from .smb_server import SMBServer, start_smb
from .smtp_server import SMTPServer, start_smtp
from .sshd_server import SSHServer, start_sshd
from .webdav_server import WebDAVServer, start_webdav
from .workdirs import instance_dir, make_server_root


@pytest.fixture(scope="session")
def corral_servers_root() -> Iterator[Path]:
    """The session's directory for server instances (mode 0755), removed at the end of the session."""
    root = make_server_root()
    yield root
    if os.environ.get("CORRAL_KEEP_SERVER_DIRS", "") not in {"1", "true", "yes"}:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def server_tmp_path(corral_servers_root: Path) -> Path:
    """A fresh directory for a test's private server instance (``start_postgres(server_tmp_path)``)."""
    return instance_dir(corral_servers_root, "private")


@pytest.fixture(scope="session")
def mariadb_server(corral_servers_root: Path) -> Iterator[MariaDB]:
    """A MariaDB server shared by the session."""
    with start_mariadb(corral_servers_root) as server:
        yield server


@pytest.fixture(scope="session")
def mariadb_server2(corral_servers_root: Path) -> Iterator[MariaDB]:
    """A second, independent MariaDB server (restore targets, replication, cross-instance tests)."""
    with start_mariadb(corral_servers_root) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server(corral_servers_root: Path) -> Iterator[Postgres]:
    """A PostgreSQL 15 server (wal_level=replica) shared by the session."""
    with start_postgres(corral_servers_root) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server(corral_servers_root: Path) -> Iterator[Redis]:
    """A Redis server with a password, shared by the session."""
    with start_redis(corral_servers_root) as server:
        yield server


@pytest.fixture(scope="session")
def mongo_server(corral_servers_root: Path) -> Iterator[Mongo]:
    """A MongoDB-compatible server (SecantusDB) with SCRAM auth, shared by the session."""
    with start_mongo(corral_servers_root) as server:
        yield server


@pytest.fixture(scope="session")
def ftp_server(corral_servers_root: Path) -> Iterator[FTPServer]:
    """A vsftpd FTP server with a Unix user, shared by the session."""
    with start_ftp(corral_servers_root) as server:
        yield server


@pytest.fixture(scope="session")
def sshd_server(corral_servers_root: Path) -> Iterator[SSHServer]:
    """An OpenSSH server with SFTP, password and key auth, shared by the session."""
    with start_sshd(corral_servers_root) as server:
        yield server


@pytest.fixture(scope="session")
def smb_server(corral_servers_root: Path) -> Iterator[SMBServer]:
    """A Samba server with one share and user, shared by the session."""
    with start_smb(corral_servers_root) as server:
        yield server


@pytest.fixture(scope="session")
def webdav_server(corral_servers_root: Path) -> Iterator[WebDAVServer]:
    """A wsgidav WebDAV server with basic auth, shared by the session."""
    with start_webdav(corral_servers_root) as server:
        yield server


@pytest.fixture(scope="session")
def s3_server(corral_servers_root: Path) -> Iterator[S3Server]:
    """A SeaweedFS S3 endpoint with keys and a bucket, shared by the session."""
    with start_s3(corral_servers_root) as server:
        yield server


@pytest.fixture(scope="session")
def nfs_server(corral_servers_root: Path) -> Iterator[NFSServer]:
    """An nfs-ganesha NFSv4 server with one export, shared by the session."""
    with start_nfs(corral_servers_root) as server:
        yield server


@pytest.fixture(scope="session")
def smtp_server(corral_servers_root: Path) -> Iterator[SMTPServer]:
    """An SMTP sink without auth, shared by the session."""
    with start_smtp(corral_servers_root) as server:
        yield server


@pytest.fixture(scope="session")
def smtp_auth_server(corral_servers_root: Path) -> Iterator[SMTPServer]:
    """An SMTP sink that requires AUTH PLAIN/LOGIN, shared by the session."""
    with start_smtp(corral_servers_root, auth=True) as server:
        yield server

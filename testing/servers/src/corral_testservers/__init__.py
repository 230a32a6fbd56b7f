"""Throwaway real servers on 127.0.0.1 for corral's tests: ``start_*`` context managers, pytest fixtures."""

from .ftp_server import FTPServer, start_ftp
from .mariadb_server import MariaDB, start_mariadb
from .mongo_server import Mongo, start_mongo
from .nfs_server import NFSServer, start_nfs
from .postgres_server import Postgres, start_postgres
from .prerequisites import in_ci, missing
from .processes import ServerStartError
from .redis_server import Redis, start_redis
from .s3_server import S3Server, start_s3
from .smb_server import SMBServer, start_smb
from .smtp_server import SMTPServer, start_smtp
from .sshd_server import SSHServer, start_sshd
from .webdav_server import WebDAVServer, start_webdav
from .workdirs import make_server_root

__all__ = [
    "FTPServer",
    "MariaDB",
    "Mongo",
    "NFSServer",
    "Postgres",
    "Redis",
    "S3Server",
    "SMBServer",
    "SMTPServer",
    "SSHServer",
    "ServerStartError",
    "WebDAVServer",
    "in_ci",
    "make_server_root",
    "missing",
    "start_ftp",
    "start_mariadb",
    "start_mongo",
    "start_nfs",
    "start_postgres",
    "start_redis",
    "start_s3",
    "start_smb",
    "start_smtp",
    "start_sshd",
    "start_webdav",
]

"""An `auth_file` another user could change is refused: its options (plugin-dir, default-auth) run code as root.

On a shared server each site user keeps ``~/.my.cnf`` with their database credentials, and pointing a job's
``auth_file`` at it is natural. mysqldump, run as root, read that user's options: ``plugin-dir`` and
``default-auth`` made it load the user's shared library, root code execution (reproduced on the landed code). As
with the configuration and ``!file`` secrets, the file must belong to root or the running user and be writable by
nobody else, and so must the folders on the way to it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from mysql_testkit import local_storage, run_corral, write_config

from corral_testservers import MariaDB

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("cc"), reason="needs root and a C compiler")


def _site_with_hostile_my_cnf(tmp_path: Path, server: MariaDB, proof: Path) -> Path:
    site = tmp_path / "home" / "site"
    (site / "plugins").mkdir(parents=True)
    source = site / "evil.c"
    source.write_text('#include <fcntl.h>\n__attribute__((constructor)) static void run(void) '
                      f'{{ creat("{proof}", 0644); }}\n')
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(site / "plugins" / "evil.so"), str(source)], check=True)
    my_cnf = site / ".my.cnf"
    my_cnf.write_text(f"[client]\nuser={server.user}\npassword={server.password}\n"
                      f"plugin-dir={site / 'plugins'}\ndefault-auth=evil\n")
    my_cnf.chmod(0o600)
    for path in (site.parent, site, site / "plugins", site / "plugins" / "evil.so", my_cnf):
        os.chown(path, NOBODY, NOBODY)
    return my_cnf


def test_an_auth_file_another_user_owns_is_refused_and_none_of_its_options_run(
    mariadb_server: MariaDB, tmp_path: Path
) -> None:
    proof = tmp_path / "ran-as-root"
    my_cnf = _site_with_hostile_my_cnf(tmp_path, mariadb_server, proof)
    config = write_config(tmp_path, [{
        "job": "site-db", "type": "mysql",
        "sources": [{"connect": {"db_host": "127.0.0.1", "db_port": mariadb_server.port, "auth_file": str(my_cnf)},
                     "target": ["mysql"]}],
        "storages": [local_storage(tmp_path / "backups")],
    }])  # fmt: skip
    done = run_corral(config, "site-db")
    assert not proof.exists(), "mysqldump loaded the site user's library as root"
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if "[ERROR]" in line and "auth_file" in line]
    assert errors and f"connect.auth_file: `{my_cnf}`" in errors[0] and "`nobody` (uid 65534)" in errors[0], errors
    assert "Traceback" not in done.stderr

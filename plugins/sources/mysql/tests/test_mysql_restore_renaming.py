"""The rewrite that lands a dump in another database: only the dump's own statements change, wherever the
stream's chunks cut them."""

from __future__ import annotations

import pytest

from corral_source_mysql.restore import LONGEST_STATEMENT, Renaming, parse_into

DUMP = (
    b"-- MariaDB dump\n/*!40101 SET NAMES utf8mb4 */;\n--\n-- Current Database: `s1 wiki`\n--\n\n"
    b"/*!40000 DROP DATABASE IF EXISTS `s1 wiki`*/;\n\n"
    b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `s1 wiki` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE "
    b"utf8mb4_unicode_ci */;\n\nUSE `s1 wiki`;\n"
    b"INSERT INTO t VALUES ('USE `s1 wiki`;\\nUSE `s1 wiki`;');\n"  # a row that says it: untouched
    b"INSERT INTO x VALUES ('" + b"y" * (3 * LONGEST_STATEMENT) + b"');\n"
    b"USE `s1 wiki`;\nUSE `other`;\n-- Dump completed\n"
)


@pytest.mark.parametrize("step", [1, 2, 7, 64, 4096, 1 << 20])
def test_statements_are_rewritten_across_chunk_cuts(step: int) -> None:
    renaming = Renaming("s1 wiki", "co`py")
    out = b"".join(renaming.feed(DUMP[i:i + step]) for i in range(0, len(DUMP), step)) + renaming.feed(b"", True)
    expected = (DUMP.replace(b"/*!40000 DROP DATABASE IF EXISTS `s1 wiki`*/;", b"")
                .replace(b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `s1 wiki`", b"ALTER DATABASE `co``py`")
                .replace(b"\nUSE `s1 wiki`;\n", b"\nUSE `co``py`;\n"))
    assert out == expected
    assert renaming.rewritten == 4


def test_into_forms() -> None:
    assert parse_into("admin@10.0.0.5:3307").model_dump(include={"db_user", "db_host", "db_port"}) == {
        "db_user": "admin", "db_host": "10.0.0.5", "db_port": 3307}
    assert parse_into("[::1]:3307").where() == "::1:3307"
    assert parse_into("me@/run/mysqld/mysqld.sock").where() == "socket /run/mysqld/mysqld.sock"
    assert parse_into("db.example").where() == "db.example:3306"

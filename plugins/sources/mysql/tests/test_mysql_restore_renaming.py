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


DEFINED = (
    b"USE `s`;\n/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`corral`@`127.0.0.1` SQL SECURITY DEFINER */\n"
    b"/*!50001 VIEW `v` AS select 1 */;\n"
    b"/*!50003 CREATE*/ /*!50017 DEFINER=`r``oot`@`%`*/ /*!50003 TRIGGER keep BEFORE INSERT ON t FOR EACH ROW"
    b" SET NEW.id = NEW.id */;;\n"
    b"CREATE DEFINER=`root`@`localhost` FUNCTION `twice`(x INT) RETURNS int(11)\n"
    b"/*!50106 CREATE*/ /*!50117 DEFINER='a'@'b'*/ /*!50106 EVENT `e` ON SCHEDULE EVERY 1 DAY DO SELECT 1 */ ;;\n"
    b"INSERT INTO t VALUES ('\\nCREATE DEFINER=`root`@`localhost` PROCEDURE');\n"
)


@pytest.mark.parametrize("step", [1, 5, 1 << 20])
def test_a_restricted_loader_defines_its_objects_itself(step: int) -> None:
    """A drill's loader has no right to name another account as DEFINER: each definer line says CURRENT_USER;
    a row that holds such text stays as it is, and without ``definers`` nothing changes."""
    renaming = Renaming("s", "s", definers=True)
    out = b"".join(renaming.feed(DEFINED[i:i + step]) for i in range(0, len(DEFINED), step)) + renaming.feed(b"", True)
    assert out.count(b"DEFINER=CURRENT_USER") == 4 and b"`root`@`localhost` PROCEDURE" in out
    assert b"corral" not in out and b"r``oot" not in out and b"'a'@'b'" not in out
    plain = Renaming("s", "s")
    assert plain.feed(DEFINED, True) == DEFINED

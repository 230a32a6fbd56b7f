"""corral discover: recognising a document root's project and reading its database settings (discovery.projects,
discovery.php), on the fixture tree's projects and on hostile ones built in a temporary folder."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from corral.discovery import php, projects
from corral.discovery.model import Database, Project
from corral.discovery.projects import MAX_BYTES, Files, interpolate, read_env, recognise, split_host

SERVER = Path(__file__).resolve().parents[2] / "tests" / "data" / "discover" / "server"
SECRET = "S3cret-Value-42"

# document root (under var/www) -> kind, project root, excludes,
# databases as (engine, name, host, port, socket, user, password, file read)
FIXTURES: dict[str, tuple[str, str, tuple[str, ...], list[tuple[object, ...]]]] = {
    "shop.example.com": (
        "bitrix",
        "shop.example.com",
        ("bitrix/cache", "bitrix/managed_cache", "bitrix/stack_cache", "bitrix/backup", "upload/resize_cache"),
        [("mysql", "shop_bitrix", "localhost", None, None, "shop", "Sh0p-secret", "bitrix/.settings.php")],
    ),
    "blog": (
        "wordpress",
        "blog",
        ("wp-content/cache", "wp-content/upgrade"),
        [("mysql", "blog_wp", "127.0.0.1", 3306, None, "wp", "wp-blog-pass", "wp-config.php")],
    ),
    "crm/public": (
        "laravel",
        "crm",
        ("storage/framework/cache", "storage/framework/sessions", "storage/framework/views", "bootstrap/cache"),
        [("mysql", "laravel_crm", "127.0.0.1", 3306, None, "crm", "crm#secret", ".env")],
    ),
    "api/public": (
        "symfony",
        "api",
        ("var/cache",),
        [("postgresql", "symfony_api", "127.0.0.1", 5432, None, "api", "api@secret", ".env.local")],
    ),
    "portal/web": (
        "drupal",
        "portal",
        ("web/sites/*/files/css", "web/sites/*/files/js", "web/sites/*/files/php"),
        [("mysql", "drupal_portal", "localhost", None, None, "portal", "portal's-secret",
          "web/sites/default/settings.php")],
    ),
    "news": (
        "joomla",
        "news",
        ("cache", "administrator/cache", "tmp"),
        [("mysql", "joomla_news", "localhost", None, None, "news", "news$secret", "configuration.php")],
    ),
    "tracker/public": (
        "dotenv",
        "tracker",
        (),
        [("postgresql", "tracker", "127.0.0.1", 5432, None, "tracker", "tracker-secret", ".env")],
    ),
    "landing": ("plain", "landing", (), []),
    "legacy": (
        "wordpress",
        "legacy",
        ("wp-content/cache", "wp-content/upgrade"),
        [("mysql", "legacy_wp", "localhost", None, None, "legacy", "legacy-secret", "wp-config.php")],
    ),
}


def shape(database: Database) -> tuple[object, ...]:
    """A database without its password (so that a failing comparison never prints one)."""
    return (database.engine, database.name, database.host, database.port, database.socket, database.user)


def shapes(project: Project) -> list[tuple[object, ...]]:
    return [shape(database) for database in project.databases]


def check_password(database: Database, expected: str | None) -> None:
    same = database.password == expected
    assert same, f"{database.name}: the password read is not the fixture's"


@pytest.mark.parametrize("document_root", sorted(FIXTURES))
def test_fixture_projects(document_root: str) -> None:
    kind, project_root, excludes, databases = FIXTURES[document_root]
    www = SERVER / "var" / "www"
    project = recognise(www / document_root, root=SERVER)
    assert project.problems == ()
    assert (project.kind, project.root, project.excludes) == (kind, www / project_root, excludes)
    assert shapes(project) == [expected[:6] for expected in databases]
    for database, expected in zip(project.databases, databases, strict=True):
        check_password(database, str(expected[6]))
        assert database.read_from == www / project_root / str(expected[7])
    for excluded in excludes:
        assert "*" in excluded or (project.root / excluded).is_dir(), excluded
    text = repr(project) + str(project)
    assert not any(str(expected[6]) in text for expected in databases)


def test_fixture_totals() -> None:
    """9 projects, 8 databases: 6 MySQL and 2 PostgreSQL (one MySQL on the disabled legacy site)."""
    projects = [recognise(SERVER / "var" / "www" / root, root=SERVER) for root in FIXTURES]
    databases = [database for project in projects for database in project.databases]
    assert len(projects) == 9
    assert sorted(database.engine for database in databases) == ["mysql"] * 6 + ["postgresql"] * 2


# -- the PHP evaluator --------------------------------------------------------------------------------------------


def evaluate(tmp_path: Path, source: str, name: str = "settings.php", **host: object) -> php.PhpFile:
    path = tmp_path / name
    path.write_text(source)
    files = Files(tmp_path)
    return php.evaluate(path, php.Host(read=files.read, exists=files.exists, **host))  # type: ignore[arg-type]


def test_php_strings_and_comments(tmp_path: Path) -> None:
    result = evaluate(tmp_path, r"""<?php
// one
# two
/* three */
/** four */
define('A', 'it\'s \n raw \\ end');
define("B", "tab\there \x41\u{42}\103 \$x \"q\"");
define('C', 'db_' . "name" . 1 . true);
define('A', 'ignored: the first define wins');
$var = 'v';
define('D', "in $var and {$var}!");
define('E', <<<'EOT'
now $doc
EOT);
define('F', -5 + 2);
define('G', (int) '33abc');
const H = 'top' . 'level', I = 2;
if (I === 2):
    define('J', 'colon syntax');
endif;
""")
    assert result.error is None
    assert result.constants == {
        "A": "it's \\n raw \\ end",
        "B": 'tab\there ABC $x "q"',
        "C": "db_name11",
        "D": "in v and v!",
        "E": "now $doc",
        "F": -3,
        "G": 33,
        "H": "toplevel",
        "I": 2,
        "J": "colon syntax",
    }


def test_php_arrays_both_syntaxes(tmp_path: Path) -> None:
    result = evaluate(tmp_path, """<?php
$databases = array();
$databases['default']['default'] = array('database' => 'd7', 'port' => 3306, 'nested' => [1, 'k' => [true, null], 2]);
$databases['default']['default']['host'] = 'h';
$list[] = 'a';
$list[] = 'b';
$list[5] = 'c';
$list[] = 'd';
return ['x' => [['y' => 1.5]], '7' => 'int key'];
""")
    assert result.variables["databases"] == {
        "default": {"default": {"database": "d7", "port": 3306, "nested": {0: 1, "k": {0: True, 1: None}, 1: 2},
                                "host": "h"}}
    }
    assert result.variables["list"] == {0: "a", 1: "b", 5: "c", 6: "d"}
    assert result.returned == {"x": {0: {"y": 1.5}}, 7: "int key"}


def test_php_constants_conditions_and_classes(tmp_path: Path) -> None:
    result = evaluate(tmp_path, """<?php
if ( ! defined( 'ABSPATH' ) ) {
    define( 'ABSPATH', __DIR__ . DIRECTORY_SEPARATOR );
} else {
    define( 'NOT_SET', 1 );
}
define('PARENT', dirname(__FILE__, 2));
$a = $missing ?? 'fallback';
$b = '' ?: 'elvis';
$c = defined('ABSPATH') ? 'yes' : 'no';
foreach ([1, 2] as $i) { $d = $i; }
if (some_function()) { define('UNDECIDED', 'x'); }
class JConfig {
    public $host = 'localhost';
    public string $db = 'joomla';
    var $user = 'u';
    public $password;
}
""")
    assert result.constants["ABSPATH"] == f"{tmp_path}/"
    assert "NOT_SET" not in result.constants
    assert result.constants["PARENT"] == str(tmp_path.parent)
    assert (result.variables["a"], result.variables["b"], result.variables["c"]) == ("fallback", "elvis", "yes")
    assert isinstance(result.variables["d"], php.Unknown) and "foreach" in result.variables["d"].why
    assert isinstance(result.constants["UNDECIDED"], php.Unknown)
    assert result.classes["JConfig"] == {"host": "localhost", "db": "joomla", "user": "u", "password": None}


def test_php_environment(tmp_path: Path) -> None:
    """``getenv()`` is known only from a ``.env`` the file loads itself; ``$_ENV`` also after the safe loader."""
    (tmp_path / ".env").write_text("DB_PASS=from-dotenv\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / ".env").write_text("OTHER=two\n")
    source = """<?php
define('BEFORE', getenv('DB_PASS'));
Dotenv\\Dotenv::createImmutable(__DIR__)->load();
define('SAFE_GETENV', getenv('DB_PASS'));
define('SAFE_ENV', $_ENV['DB_PASS']);
Dotenv\\Dotenv::createUnsafeImmutable(__DIR__)->load();
define('UNSAFE_GETENV', getenv('DB_PASS'));
define('SERVER', $_SERVER["DB_PASS"]);
define('HELPER', env('NOT_THERE', 'default'));
$dotenv = new Dotenv\\Dotenv(__DIR__ . '/other');
$dotenv->load();
define('FROM_OTHER', getenv('OTHER'));
define('MISSING', getenv('NOT_THERE'));
define('FALLBACK', $_ENV['NOT_THERE'] ?? 'fallback');
define('ISSET', isset($_ENV['DB_PASS'], $undefined) ? 'both' : 'not both');
define('EMPTY', empty($_ENV['NOT_THERE']));
"""
    files = Files(tmp_path)
    path = tmp_path / "wp-config.php"
    path.write_text(source)
    host = php.Host(read=files.read, load_dotenv=lambda folder: read_env(folder / ".env", files, []))
    constants = php.evaluate(path, host).constants
    assert isinstance(constants["BEFORE"], php.Unknown)
    assert "PHP process's environment" in constants["BEFORE"].why
    assert isinstance(constants["SAFE_GETENV"], php.Unknown)
    assert constants["SAFE_ENV"] == constants["UNSAFE_GETENV"] == constants["SERVER"] == "from-dotenv"
    assert constants["HELPER"] == "default"
    assert constants["FROM_OTHER"] == "two"
    assert isinstance(constants["MISSING"], php.Unknown)
    assert (constants["FALLBACK"], constants["ISSET"], constants["EMPTY"]) == ("fallback", "not both", True)


def test_php_includes_only_where_allowed(tmp_path: Path) -> None:
    (tmp_path / "settings.local.php").write_text("<?php\n$databases['default']['default']['database'] = 'local';\n")
    (tmp_path / "other.php").write_text("<?php\n$databases['default']['default']['database'] = 'other';\n")
    source = """<?php
$databases['default']['default'] = ['database' => 'main'];
if (file_exists(__DIR__ . '/settings.local.php')) {
  include __DIR__ . '/settings.local.php';
}
if (file_exists(__DIR__ . '/absent.php')) {
  include __DIR__ . '/absent.php';
}
require_once 'other.php';
"""
    result = evaluate(tmp_path, source, may_include=lambda path: path.name == "settings.local.php")
    assert result.variables["databases"] == {"default": {"default": {"database": "local"}}}


def test_php_unknowns_name_the_construct_not_the_value(tmp_path: Path) -> None:
    result = evaluate(tmp_path, f"""<?php
define('A', base64_decode('{SECRET}'));
define('B', eval('return "{SECRET}";'));
define('C', UNDEFINED_CONSTANT . '{SECRET}');
define('D', $undefined . '{SECRET}');
define('E', `echo {SECRET}`);
define('F', Foo::bar('{SECRET}'));
""")
    for key, word in {"A": "base64_decode", "B": "eval", "C": "UNDEFINED_CONSTANT", "D": "$undefined", "E": "shell",
                      "F": "Foo::bar"}.items():
        value = result.constants[key]
        assert isinstance(value, php.Unknown), key
        assert value.line == 2 + list("ABCDEF").index(key)
        assert word in value.why and SECRET not in value.why, key


def test_php_deep_nesting_is_cut(tmp_path: Path) -> None:
    depth = 5000
    result = evaluate(tmp_path, "<?php\nreturn ['a' => 'x', 'b' => " + "[" * depth + "]" * depth + "];\n")
    assert isinstance(result.returned, dict) and result.returned["a"] == "x"
    chain = "<?php\ndefine('X', " + " . ".join(["'a'"] * 3000) + ");\n"
    assert isinstance(evaluate(tmp_path, chain, "chain.php").constants["X"], php.Unknown)


def test_php_syntax_error(tmp_path: Path) -> None:
    result = evaluate(tmp_path, f"<?php\ndefine('DB_PASSWORD', '{SECRET}');\n$x = [1, 2;\n")
    assert result.error == "line 3: PHP syntax error"


# -- the kinds' finer points ----------------------------------------------------------------------------------------


def make(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "www" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "www"


def only_line(project: Project) -> str:
    assert len(project.problems) == 1, project.problems
    line = project.problems[0]
    assert SECRET not in line
    return line


def test_wordpress_socket_and_config_one_level_up(tmp_path: Path) -> None:
    www = make(tmp_path, {
        "site/wp-config.php": f"""<?php
define('DB_NAME', 'wp'); define('DB_USER', 'u'); define('DB_PASSWORD', '{SECRET}');
define('DB_HOST', 'localhost:/run/mysqld/mysqld.sock');
""",
        "site/public/wp-includes/version.php": "<?php\n",
        "site/public/wp-settings.php": "<?php\n",
    })
    project = recognise(www / "site" / "public", root=tmp_path)
    assert (project.kind, project.root, project.problems) == ("wordpress", www / "site", ())
    assert shapes(project) == [
        ("mysql", "wp", "localhost", None, "/run/mysqld/mysqld.sock", "u")
    ]


def test_wordpress_password_from_the_process_environment_is_a_problem(tmp_path: Path) -> None:
    www = make(tmp_path, {"blog/wp-config.php": """<?php
define('DB_NAME', 'wp');
define('DB_USER', 'u');
define('DB_PASSWORD', getenv('DB_PASS'));
define('DB_HOST', 'db.internal');
"""})
    project = recognise(www / "blog", root=tmp_path)
    assert only_line(project).startswith(f"{www / 'blog' / 'wp-config.php'}:4: `DB_PASSWORD`: `getenv('DB_PASS')`")
    assert shapes(project) == [("mysql", "wp", "db.internal", 3306, None, "u")]
    assert project.databases[0].password is None


def test_bitrix_old_dbconn_only(tmp_path: Path) -> None:
    www = make(tmp_path, {"shop/bitrix/php_interface/dbconn.php": f"""<?
$DBType = "mysql"; $DBHost = "db:3307"; $DBLogin = 'shop'; $DBPassword = '{SECRET}'; $DBName = "shop";
"""})
    project = recognise(www / "shop", root=tmp_path)
    assert (project.kind, project.problems) == ("bitrix", ())
    assert shapes(project) == [("mysql", "shop", "db", 3307, None, "shop")]
    check_password(project.databases[0], SECRET)


def test_laravel_cached_config_wins_and_env_fallback(tmp_path: Path) -> None:
    www = make(tmp_path, {
        "app/artisan": "",
        "app/.env": "DB_CONNECTION=mysql\nDB_DATABASE=from_env\n",
        "app/bootstrap/cache/config.php": """<?php return array (
  'database' => array ('default' => 'pgsql', 'connections' => array ('pgsql' => array (
    'driver' => 'pgsql', 'url' => NULL, 'host' => '10.0.0.5', 'port' => '6432', 'database' => 'cached',
    'username' => 'app', 'password' => 'pw'))));
""",
        "plain/artisan": "",
        "plain/.env": "DB_CONNECTION=mariadb\nDB_DATABASE=only_env\nDB_USERNAME=u\nDB_SOCKET=/run/mysqld/mysqld.sock\n",
        "default/artisan": "",
        "default/.env": "DB_DATABASE=sqlite_is_the_default\n",
        "url/artisan": "",
        "url/.env": "DB_CONNECTION=mysql\nDB_URL='mysql://a%3Ab:p%40ss@db.example:3310/shop'\n",
        "lite/artisan": "",
        "lite/.env": "DB_CONNECTION=sqlite\n",
    })
    cached = recognise(www / "app", root=tmp_path)
    assert shapes(cached) == [("postgresql", "cached", "10.0.0.5", 6432, None, "app")]
    plain = recognise(www / "plain", root=tmp_path)
    assert shapes(plain) == [
        ("mysql", "only_env", "127.0.0.1", 3306, "/run/mysqld/mysqld.sock", "u")
    ]
    url = recognise(www / "url", root=tmp_path)
    assert shapes(url) == [("mysql", "shop", "db.example", 3310, None, "a:b")]
    check_password(url.databases[0], "p@ss")
    assert recognise(www / "lite", root=tmp_path).databases == ()
    assert recognise(www / "default", root=tmp_path).databases == ()


def test_symfony_env_order(tmp_path: Path) -> None:
    www = make(tmp_path, {
        "a/symfony.lock": "{}",
        "a/.env": "APP_ENV=prod\nDATABASE_URL=mysql://u:p@h/from_env\n",
        "a/.env.local": "DATABASE_URL=mysql://u:p@h/from_local\n",
        "a/.env.prod": "DATABASE_URL=mysql://u:p@h/from_prod\n",
        "a/.env.prod.local": "DATABASE_URL=mysql://u:p@localhost/from_prod_local?unix_socket=/tmp/my.sock\n",
        "b/bin/console": "",
        "b/.env": "APP_ENV=test\nDATABASE_URL=pgsql://u:p@%2Fvar%2Frun%2Fpostgresql/from_env\n",
        "b/.env.local": "DATABASE_URL=mysql://u:p@h/not_for_test\n",
        "c/bin/console": "",
        "c/.env": "DATABASE_URL=mysql://u:p@h/ignored\n",
        "c/.env.local.php": "<?php return array('APP_ENV' => 'prod', 'DATABASE_URL' => 'postgresql://u@h:5433/dumped');\n",
    })
    a = recognise(www / "a", root=tmp_path)
    assert shapes(a) == [
        ("mysql", "from_prod_local", "localhost", None, "/tmp/my.sock", "u")
    ]
    assert a.databases[0].read_from == www / "a" / ".env.prod.local"
    b = recognise(www / "b", root=tmp_path)
    assert shapes(b) == [
        ("postgresql", "from_env", "localhost", 5432, "/var/run/postgresql", "u")
    ]
    c = recognise(www / "c", root=tmp_path)
    assert shapes(c) == [("postgresql", "dumped", "h", 5433, None, "u")]


def test_drupal_7_array_syntax_multisite_and_pgsql(tmp_path: Path) -> None:
    www = make(tmp_path, {
        "d7/includes/bootstrap.inc": "<?php\n",
        "d7/sites/default/settings.php": """<?php
$databases = array (
  'default' => array ('default' => array (
      'database' => 'd7', 'username' => 'u', 'password' => 'p', 'host' => 'localhost', 'port' => '',
      'driver' => 'mysql', 'prefix' => '')),
);
""",
        "d7/sites/b.example.com/settings.php": """<?php
$databases['default']['default'] = ['database' => 'b', 'username' => 'pg', 'host' => 'pg.internal',
  'driver' => 'pgsql'];
""",
        "d7/sites/c.example.com/settings.php": "<?php\n$db_url = 'mysqli://u:p@localhost/d6';\n",
    })
    project = recognise(www / "d7", root=tmp_path)
    assert (project.kind, project.root, project.problems) == ("drupal", www / "d7", ())
    assert project.excludes == ("sites/*/files/css", "sites/*/files/js", "sites/*/files/php")
    assert shapes(project) == [
        ("postgresql", "b", "pg.internal", 5432, None, "pg"),
        ("mysql", "d6", "localhost", None, None, "u"),
        ("mysql", "d7", "localhost", None, None, "u"),
    ]


def test_joomla_host_with_port_and_postgresql(tmp_path: Path) -> None:
    www = make(tmp_path, {
        "j/administrator/index.php": "",
        "j/configuration.php": """<?php
class JConfig { public $dbtype = 'pgsql'; public $host = 'db:5433'; public $user = 'j'; public $password = 'p';
  public $db = 'joomla'; }
""",
    })
    project = recognise(www / "j", root=tmp_path)
    assert shapes(project) == [("postgresql", "joomla", "db", 5433, None, "j")]


def test_levels_stop_at_shared_parents_and_other_owners(tmp_path: Path) -> None:
    """/var/www holds many projects: an ``artisan`` in it does not make every site there a Laravel app."""
    root = tmp_path
    (root / "var" / "www" / "site" / "public").mkdir(parents=True)
    (root / "var" / "www" / "artisan").write_text("")
    project = recognise(root / "var" / "www" / "site" / "public", root=root)
    assert (project.kind, project.root) == ("plain", root / "var" / "www" / "site" / "public")
    if os.geteuid() == 0:
        (root / "srv" / "a" / "b").mkdir(parents=True)
        (root / "srv" / "artisan").write_text("")
        os.chown(root / "srv" / "a" / "b", 12345, 12345)
        assert recognise(root / "srv" / "a" / "b", root=root).kind == "plain"


def test_dotenv_and_plain(tmp_path: Path) -> None:
    www = make(tmp_path, {
        "go/public/index.html": "",
        "go/.env": "DATABASE_URL=postgres://svc:pw@db/app\n",
        "node/.env": "PORT=3000\n",
        "oracle/.env": "DATABASE_URL=oracle://u:p@h/x\n",
    })
    go = recognise(www / "go" / "public", root=tmp_path)
    assert (go.kind, go.root) == ("dotenv", www / "go")
    assert shapes(go) == [("postgresql", "app", "db", 5432, None, "svc")]
    assert recognise(www / "node", root=tmp_path) == Project(kind="plain", root=www / "node")
    oracle = recognise(www / "oracle", root=tmp_path)
    assert oracle.kind == "dotenv" and "engine corral does not dump" in only_line(oracle)


def test_env_interpolation_never_uses_corral_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_ONLY", SECRET)
    path = tmp_path / ".env"
    path.write_text('A=one\nB="${A}-two"\nC=${CORRAL_ONLY}\nexport D=\'four\' # comment\nnot a line\n')
    problems: list[str] = []
    assert read_env(path, Files(tmp_path), problems) == {"A": "one", "B": "one-two", "C": "", "D": "four"}
    assert problems == [f"{path}:5: not a `KEY=value` line: ignored"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("localhost", ("localhost", None, None)),
        ("127.0.0.1:3306", ("127.0.0.1", "3306", None)),
        ("localhost:/run/mysqld/mysqld.sock", ("localhost", None, "/run/mysqld/mysqld.sock")),
        (":/tmp/s.sock", ("localhost", None, "/tmp/s.sock")),
        ("[::1]:3307", ("::1", "3307", None)),
        ("", ("localhost", None, None)),
    ],
)
def test_split_host(text: str, expected: tuple[str, str | None, str | None]) -> None:
    assert split_host(text) == expected


# -- hostile projects: one line each, naming the file, never the secret --------------------------------------------


def wordpress(tmp_path: Path, config: str) -> Path:
    www = make(tmp_path, {"site/wp-includes/version.php": "<?php\n"})
    (www / "site" / "wp-config.php").write_text(config) if config else None
    return www / "site"


GOOD = f"<?php\ndefine('DB_NAME', 'n');\ndefine('DB_USER', 'u');\ndefine('DB_PASSWORD', '{SECRET}');\n"


def test_link_out_of_the_project_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.php"
    outside.write_text(GOOD)
    site = wordpress(tmp_path, "")
    for target in (outside, Path("../../outside.php"), Path("/etc/passwd")):
        (site / "wp-config.php").unlink(missing_ok=True)
        (site / "wp-config.php").symlink_to(target)
        project = recognise(site, root=tmp_path)
        assert only_line(project) == f"{site / 'wp-config.php'}: a link out of the project {site}: not read"
        assert project.databases == ()


def test_link_inside_the_project_is_read(tmp_path: Path) -> None:
    site = wordpress(tmp_path, "")
    (site / "config").mkdir()
    (site / "config" / "wp.php").write_text(GOOD)
    (site / "wp-config.php").symlink_to("config/wp.php")
    project = recognise(site, root=tmp_path)
    assert project.problems == () and [database.name for database in project.databases] == ["n"]


def test_fifo_does_not_hang(tmp_path: Path) -> None:
    site = wordpress(tmp_path, "")
    os.mkfifo(site / "wp-config.php")
    outcome: list[Project] = []
    thread = threading.Thread(target=lambda: outcome.append(recognise(site, root=tmp_path)), daemon=True)
    thread.start()
    thread.join(10)
    assert outcome, "recognise hung on a FIFO"
    assert only_line(outcome[0]) == f"{site / 'wp-config.php'}: not a regular file (a FIFO, socket or device): not read"


def test_huge_file_is_not_read(tmp_path: Path) -> None:
    site = wordpress(tmp_path, GOOD + "//" + "x" * MAX_BYTES + "\n")
    assert only_line(recognise(site, root=tmp_path)) == f"{site / 'wp-config.php'}: larger than 1024 KiB: not read"


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    site = wordpress(tmp_path, GOOD + "define('DB_HOST', 'h'\n$x = 1;\n")
    line = only_line(recognise(site, root=tmp_path))
    assert line.startswith(f"{site / 'wp-config.php'}: line ") and line.endswith(
        ": PHP syntax error: its settings are not read")


def test_eval_in_a_needed_value(tmp_path: Path) -> None:
    site = wordpress(tmp_path, f"<?php\ndefine('DB_NAME', 'n');\ndefine('DB_USER', 'u');\n"
                               f"define('DB_PASSWORD', eval('return \"{SECRET}\";'));\n")
    project = recognise(site, root=tmp_path)
    assert only_line(project) == (
        f"{site / 'wp-config.php'}:4: `DB_PASSWORD`: calls `eval()`, which corral does not run: not guessed")
    assert project.databases[0].password is None


def test_function_call_in_the_database_name_adds_no_database(tmp_path: Path) -> None:
    site = wordpress(tmp_path, f"<?php\ndefine('DB_NAME', strrev('{SECRET}'));\ndefine('DB_USER', 'u');\n")
    project = recognise(site, root=tmp_path)
    assert only_line(project) == (
        f"{site / 'wp-config.php'}:2: `DB_NAME`: calls `strrev()`, which corral does not run: not guessed")
    assert project.databases == ()


def test_deeply_nested_settings(tmp_path: Path) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    www = make(tmp_path, {"shop/bitrix/.settings.php": f"<?php\nreturn ['connections' => {nested}];\n"})
    project = recognise(www / "shop", root=tmp_path)
    assert project.kind == "bitrix"
    assert len(project.problems) == 1 and "nested deeper than" in project.problems[0]


def test_computed_names_are_not_shown(tmp_path: Path) -> None:
    result = evaluate(tmp_path, f"""<?php
define('A', ('{SECRET}' . 'x')());
define('B', getenv('{SECRET} with spaces'));
define('C', constant('{SECRET}!'));
""")
    for key in "ABC":
        value = result.constants[key]
        assert isinstance(value, php.Unknown) and SECRET not in value.why, key
        assert "(a computed name)" in value.why, key


def test_bitrix_settings_extra_wins(tmp_path: Path) -> None:
    settings = "<?php\nreturn ['connections' => ['value' => ['default' => ['className' => '{0}', " \
               "'host' => '{1}', 'database' => '{2}', 'login' => 'u', 'password' => 'p']]]];\n"
    www = make(tmp_path, {
        "shop/bitrix/.settings.php": settings.format("\\\\Bitrix\\\\Main\\\\DB\\\\MysqliConnection", "localhost", "a"),
        "shop/bitrix/.settings_extra.php": settings.format("\\\\Bitrix\\\\Main\\\\DB\\\\PgsqlConnection", "pg", "b"),
    })
    project = recognise(www / "shop", root=tmp_path)
    assert (project.problems, shapes(project)) == ((), [("postgresql", "b", "pg", 5432, None, "u")])


def test_symfony_doctrine_without_database_url_is_said(tmp_path: Path) -> None:
    www = make(tmp_path, {"api/bin/console": "", "api/.env": "APP_ENV=prod\n",
                          "api/config/packages/doctrine.yaml": "doctrine: {}\n"})
    project = recognise(www / "api", root=tmp_path)
    assert only_line(project).endswith("no `.env` file sets `DATABASE_URL`: its database is not known")


def test_links_are_followed_under_the_root(tmp_path: Path) -> None:
    """With ``--root R`` an absolute link means the same path under R (as on the server), never this machine's."""
    server = tmp_path / "server"
    release = server / "var" / "www" / "app" / "releases" / "5"
    (release / "public").mkdir(parents=True)
    (release / "artisan").write_text("")
    (release / ".env").symlink_to("/var/www/app/shared/.env")
    (server / "var" / "www" / "app" / "shared").mkdir()
    (server / "var" / "www" / "app" / "shared" / ".env").write_text("DB_CONNECTION=mysql\nDB_DATABASE=app\n")
    (server / "var" / "www" / "app" / "current").symlink_to("/var/www/app/releases/5")
    (server / "var" / "www" / "app" / "releases" / "5" / "config").mkdir()
    (release / "config" / "secret.php").symlink_to("/etc/shadow")
    project = recognise(server / "var" / "www" / "app" / "current" / "public", root=server)
    assert (project.kind, project.root) == ("laravel", server / "var" / "www" / "app" / "current")
    # the shared .env is a link out of the release into the site's folder: read, and said
    assert only_line(project) == (f"{server}/var/www/app/current/.env: a link out of the project to "
                                  f"{server}/var/www/app/shared/.env: read, but a backup of "
                                  f"{server}/var/www/app/current does not hold it")
    assert shapes(project) == [("mysql", "app", "127.0.0.1", 3306, None, "root")]
    files = Files(server / "var" / "www" / "app" / "current", server)
    assert files.resolve(server / "var/www/app/current/config/secret.php") == server / "etc" / "shadow"
    with pytest.raises(php.Refused):
        files.read(server / "var/www/app/current/config/secret.php")


def test_php_arrays_are_values(tmp_path: Path) -> None:
    result = evaluate(tmp_path, "<?php\n$a = ['x' => ['y' => 1]];\n$b = $a;\n$b['x']['y'] = 2;\n$b['z'] = 3;\n")
    assert result.variables["a"] == {"x": {"y": 1}}
    assert result.variables["b"] == {"x": {"y": 2}, "z": 3}


def test_file_names_cannot_forge_lines(tmp_path: Path) -> None:
    www = make(tmp_path, {"d/core/lib/Drupal.php": "<?php\n",
                          "d/sites/evil\n\x1b[2Jsite/settings.php": "<?php\n$databases = [;\n"})
    line = only_line(recognise(www / "d", root=tmp_path))
    assert "\n" not in line and "\x1b" not in line and "evil??[2Jsite" in line


def test_control_characters_in_a_name_add_no_database(tmp_path: Path) -> None:
    site = wordpress(tmp_path, "<?php\ndefine('DB_NAME', \"wp\\nx: y\");\ndefine('DB_USER', 'u');\n")
    project = recognise(site, root=tmp_path)
    assert project.databases == () and "control character" in only_line(project)


def test_slow_parse_is_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Some malformed input makes tree-sitter's error recovery take a minute per MiB: the parse is cut."""
    monkeypatch.setattr(php, "PARSE_SECONDS", -1.0)
    site = wordpress(tmp_path, GOOD)
    assert only_line(recognise(site, root=tmp_path)) == (
        f"{site / 'wp-config.php'}: took longer than -1 s to parse: its settings are not read")


def test_nested_blocks_are_cut(tmp_path: Path) -> None:
    result = evaluate(tmp_path, "<?php\n" + "if (true) {" * 5000 + "$x = 1;" + "}" * 5000 + "\n$y = 2;\n")
    assert isinstance(result.variables["x"], php.Unknown) and result.variables["y"] == 2
    assert result.problems == [f"{tmp_path / 'settings.php'}:2: blocks nested deeper than {php.MAX_DEPTH}: not read"]


def test_interpolation_matches_python_dotenv_in_linear_time() -> None:
    from dotenv.variables import parse_variables

    values = {"A": "1", "B": ""}
    cases = ["${A}", "x${A}y", "${C:-d}", "${A:-d}", "${B:-d}", "${", "${A", "$A", "${a:b}", "${A}${A}", "}${A}{",
             "${A${B}", "${:-x}", "${A:-}", "${A:-a:b}", "a$${A}", "${${A}}"]
    for case in cases:
        expected = "".join(atom.resolve(values) for atom in parse_variables(case))
        assert interpolate(case, values) == expected, case
    started = time.monotonic()
    interpolate("${:" * 300_000 + "}", values)
    interpolate("${" * 500_000, values)
    assert time.monotonic() - started < 5


def test_growth_is_bounded(tmp_path: Path) -> None:
    """Strings doubling at every line, nested calls whose text holds the whole file: cut, in little time."""
    started = time.monotonic()
    doubling = evaluate(tmp_path, "<?php\n$a = 'xx';\n" + "$a = $a . $a;\n" * 200 + "$b = \"$a$a\";\n$c = 'ok';\n")
    assert isinstance(doubling.variables["a"], php.Unknown) and "longer than" in doubling.variables["a"].why
    assert doubling.variables["c"] == "ok"
    calls = "<?php\nforeach ($x as $y) { define('A', " + "(" * 20_000 + "f" + ")()" * 20_000 + "); }\n"
    assert isinstance(evaluate(tmp_path, calls, "calls.php").constants["A"], php.Unknown)
    assert time.monotonic() - started < 10


def test_a_site_owner_cannot_flood_the_log_or_stall_the_night(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Drupal with thousands of `sites/*/settings.php`, each with a problem, made that many warnings at every
    `corral start` (10,000 lines and 5 s for 5,000 folders): a project says at most MAX_PROBLEMS problems and the
    count of the rest, and reads at most MAX_DRUPAL_SITES settings files."""
    monkeypatch.setattr(projects, "MAX_DRUPAL_SITES", 40)
    files = {"d/includes/bootstrap.inc": "<?php\n"}
    for number in range(60):
        files[f"d/sites/s{number:02}/settings.php"] = (
            f"<?php\n$databases['default']['default'] = ['database' => 'db{number}', 'username' => getenv('U')];\n")
    project = recognise(make(tmp_path, files) / "d", root=tmp_path)
    assert len(project.databases) == 40
    assert len(project.problems) == projects.MAX_PROBLEMS + 1
    assert project.problems[-1] == f"{tmp_path}/www/d: {40 + 1 - projects.MAX_PROBLEMS} more problem(s) not shown"
    assert f"{tmp_path}/www/d/sites: more than 40 sites: the settings of the others are not read" in project.problems


def test_evaluating_past_the_parse_deadline_does_not_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parse deadline is the parse's: a string's text read after it (a big array of a site's owner takes longer
    than 5 s to evaluate) went through the read callback, which then gave nothing, and tree-sitter asked forever:
    every `corral start` hung holding its lock, so the next night's run did not start either."""
    clock = [0.0]
    monkeypatch.setattr(php, "time", type("Clock", (), {"monotonic": staticmethod(lambda: clock[0])}))
    real = php._parser

    class Parser:
        def parse(self, read: object) -> object:
            tree = real().parse(read)  # type: ignore[arg-type]
            clock[0] = 1e9  # the evaluation starts after the deadline
            return tree

    monkeypatch.setattr(php, "_parser", Parser)
    outcome: list[php.PhpFile] = []
    source = "<?php\ndefine('DB_NAME', 'shop');\n"
    thread = threading.Thread(target=lambda: outcome.append(evaluate(tmp_path, source)), daemon=True)
    thread.start()
    thread.join(10)
    assert outcome, "evaluate hung"
    assert outcome[0].error is None and outcome[0].constants == {"DB_NAME": "shop"}


def test_env_values_doubling_through_interpolation_are_cut(tmp_path: Path) -> None:
    """`K1=${K0}${K0}`, `K2=${K1}${K1}`...: 40 lines asked for 4 TiB (the OOM killer, at every `corral start`);
    and a 1 MiB value repeated by 10,000 keys for 10 GiB. A file's values hold at most 4 MiB together."""
    doubling = "K0=abcdefgh\n" + "".join(f"K{i}=${{K{i - 1}}}${{K{i - 1}}}\n" for i in range(1, 40))
    repeated = "K0=" + "x" * 500_000 + "\n" + "".join(f"K{i}=${{K0}}\n" for i in range(1, 10_000))
    for text in (doubling, repeated):
        site = make(tmp_path, {"app/artisan": "", "app/.env": text + "DB_CONNECTION=mysql\nDB_DATABASE=x\n"}) / "app"
        project = recognise(site, root=tmp_path)
        assert project.problems == (f"{site / '.env'}: its values grow beyond 4 MiB with `${{...}}`: the rest is not "
                                    "read",)


def test_php_strings_built_are_bounded_per_file(tmp_path: Path) -> None:
    """Each string is at most MAX_STRING, but 19,000 copies of a 512 KiB one asked for 9 GiB (MemoryError or the
    OOM killer at every `corral start`): one evaluation builds at most MAX_BUILT characters."""
    source = "<?php\n$a = 'x';\n" + "$a = $a . $a;\n" * 19
    source += "".join(f"$v{i} = \"{{$a}}y\" . 'z';\n" for i in range(19_000))
    result = evaluate(tmp_path, source + "define('DB_NAME', 'shop' . 'x');\n")
    assert result.variables["v1"] == "x" * (1 << 19) + "yz"
    last = result.variables["v18999"]
    assert isinstance(last, php.Unknown)
    assert last.why == f"the file builds more than {php.MAX_BUILT} characters of strings"


def test_a_project_names_at_most_max_databases(tmp_path: Path) -> None:
    """A settings file's owner could name 10,000 databases (one coverage line each, at every `corral start`)."""
    keys = "".join(f"$databases['k{i}']['default'] = ['database' => 'db{i}', 'username' => 'u'];\n" for i in range(300))
    site = make(tmp_path, {"d/includes/bootstrap.inc": "<?php\n", "d/sites/default/settings.php": "<?php\n" + keys})
    project = recognise(site / "d", root=tmp_path)
    assert len(project.databases) == projects.MAX_DATABASES
    assert project.problems == (f"{site}/d/sites/default/settings.php: more than {projects.MAX_DATABASES} databases: "
                                "the others are not added",)

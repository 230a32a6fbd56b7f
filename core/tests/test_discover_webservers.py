"""corral discover's reading of nginx and Apache: the fixture server's sites exactly, then each rule and each
problem on small trees (a broken brace, an include loop, a file the reader may not read), then ``nginx -T`` for
real in a mount namespace where the fixture's files are /etc/nginx."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from corral.discovery import rooted, webservers
from corral.discovery.model import Site
from corral.discovery.webservers import apache_lines, apache_words, find_sites

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "data" / "discover" / "server"

# (server, names, document root, declared in, line, enabled), paths relative to the root
EXPECTED = [
    ("nginx", ("landing.example.com",), "var/www/landing", "etc/nginx/conf.d/landing.example.com.conf", 2, True),
    (
        "nginx",
        ("blog.example.com", "blog.example.org", "www.blog.example.com"),
        "var/www/blog",
        "etc/nginx/sites-available/blog",
        2,
        True,
    ),
    ("nginx", ("crm.example.com",), "var/www/crm/public", "etc/nginx/sites-available/crm.example.com.conf", 2, True),
    (
        "nginx",
        ("shop.example.com", "www.shop.example.com"),
        "var/www/shop.example.com",
        "etc/nginx/sites-available/shop.example.com",
        2,
        True,
    ),
    (
        "nginx",
        ("tracker.example.com",),
        "var/www/tracker/public",
        "etc/nginx/sites-available/tracker.example.com",
        1,
        True,
    ),
    (
        "apache",
        ("api.example.com", "api2.example.com"),
        "var/www/api/public",
        "etc/apache2/sites-available/api.example.com.conf",
        2,
        True,
    ),
    (
        "apache",
        ("news.example.com",),
        "var/www/news",
        "etc/apache2/sites-available/news.example.com.conf",
        2,
        True,
    ),
    (
        "apache",
        ("portal.example.com",),
        "var/www/portal/web",
        "etc/apache2/sites-available/portal.example.com.conf",
        4,
        True,
    ),
    (
        "apache",
        ("legacy.example.com", "www.legacy.example.com"),
        "var/www/legacy",
        "etc/apache2/sites-available/legacy.example.com.conf",
        2,
        False,
    ),
]


def relative(sites: list[Site], root: Path) -> list[tuple[str, tuple[str, ...], str, str, int, bool]]:
    """Sites as comparable tuples, paths relative to ``root``."""
    return [
        (
            site.server,
            site.names,
            str(site.document_root.relative_to(root)),
            str(site.declared_in.relative_to(root)),
            site.line,
            site.enabled,
        )
        for site in sites
    ]


@pytest.fixture
def server(tmp_path: Path) -> Path:
    """A copy of the fixture server's /etc (links kept) to break."""
    shutil.copytree(FIXTURE / "etc", tmp_path / "etc", symlinks=True)
    return tmp_path


def write(root: Path, path: str, text: str) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def test_fixture_server_sites_exactly() -> None:
    sites, problems = find_sites(FIXTURE)
    assert problems == []
    assert relative(sites, FIXTURE) == EXPECTED
    assert sum(site.enabled for site in sites) == 8


def test_relative_root_gives_absolute_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURE.parent)
    sites, _ = find_sites(Path("server"))
    assert sites[0].document_root == FIXTURE / "var/www/landing"
    assert sites[0].declared_in.is_absolute()


def test_a_site_without_link_in_sites_enabled_is_disabled(server: Path) -> None:
    (server / "etc/nginx/sites-enabled/tracker.example.com").unlink()
    (server / "etc/apache2/sites-enabled/news.example.com.conf").unlink()
    sites, problems = find_sites(server)
    assert problems == []
    disabled = {site.names[0]: site.enabled for site in sites if not site.enabled}
    assert disabled == {"tracker.example.com": False, "news.example.com": False, "legacy.example.com": False}
    assert len(sites) == 9


def test_an_absolute_link_is_followed_under_the_root(server: Path) -> None:
    link = server / "etc/nginx/sites-enabled/blog"
    link.unlink()
    link.symlink_to("/etc/nginx/sites-available/blog")  # this machine has no such file: the copy's is meant
    sites, problems = find_sites(server)
    assert problems == []
    blog = next(site for site in sites if "blog.example.com" in site.names)
    assert (blog.enabled, blog.declared_in) == (True, server / "etc/nginx/sites-available/blog")


def test_nginx_roots_inherited_from_http_from_location_slash_relative_and_variable(tmp_path: Path) -> None:
    write(
        tmp_path,
        "etc/nginx/nginx.conf",
        """events {}
http {
    server { server_name inherits.example; }
    server { server_name located.example; location /static { root /srv/static; } location / { root /srv/loc; } }
    server { server_name own.example; root /srv/own; location / { root /srv/ignored; } }
    server { server_name relative.example; root html; }
    server { server_name mass.example; root /srv/$host; }
    server { server_name bitrixenv.example; set $docroot "/home/bitrix/www"; root "${docroot}"; }
    root /srv/http;
}
stream { server { listen 12345; proxy_pass 127.0.0.1:1; } }
""",
    )
    sites, problems = find_sites(tmp_path)
    assert [(site.names, site.document_root) for site in sites] == [
        (("inherits.example",), tmp_path / "srv/http"),
        (("located.example",), tmp_path / "srv/loc"),
        (("own.example",), tmp_path / "srv/own"),
        (("relative.example",), tmp_path / "usr/share/nginx/html"),
        (("bitrixenv.example",), tmp_path / "home/bitrix/www"),
    ]
    nginx_conf = tmp_path / "etc/nginx/nginx.conf"
    assert problems == [
        f"{nginx_conf}:7: the root of server mass.example uses an nginx variable no `set` of the server gives: "
        "not followed"
    ]


def test_a_server_without_root_is_no_site(tmp_path: Path) -> None:
    write(
        tmp_path,
        "etc/nginx/nginx.conf",
        "http { server { server_name proxy.example; location / { proxy_pass http://127.0.0.1:8080; } } }",
    )
    assert find_sites(tmp_path) == ([], [])


def test_nginx_broken_brace_names_file_and_line_and_keeps_the_rest(server: Path) -> None:
    broken = write(
        server, "etc/nginx/sites-available/broken", "server {\n  server_name broken.example;\n  root /srv/b;\n"
    )
    (server / "etc/nginx/sites-enabled/broken").symlink_to("../sites-available/broken")
    extra = write(server, "etc/nginx/conf.d/extra.conf", "server {\n  root /srv/x;\n}\n}\n")
    sites, problems = find_sites(server)
    assert problems == [
        f'{extra}:4: cannot parse: unexpected "}}"',
        f'{broken}:3: cannot parse: unexpected end of file, expecting "}}"',
    ]
    assert relative(sites, server) == EXPECTED


def test_nginx_unterminated_directive(tmp_path: Path) -> None:
    conf = write(tmp_path, "etc/nginx/nginx.conf", "http { include sites/*; }")
    write(tmp_path, "etc/nginx/sites/a", "server_name")
    write(tmp_path, "etc/nginx/sites/b", "server { server_name b.example; root /srv/b; }")
    sites, problems = find_sites(tmp_path)
    assert [site.names for site in sites] == [("b.example",)]
    assert problems == [f'{conf.parent}/sites/a: cannot parse: unexpected end of file, expecting ";" or "}}"']


def test_nginx_include_loop_is_caught(tmp_path: Path) -> None:
    write(tmp_path, "etc/nginx/nginx.conf", "http {\n  include loop/a.conf;\n}\n")
    a = write(
        tmp_path, "etc/nginx/loop/a.conf", "include loop/b.conf;\nserver { server_name a.example; root /srv/a; }\n"
    )
    b = write(tmp_path, "etc/nginx/loop/b.conf", "include /etc/nginx/loop/*.conf;\n")
    sites, problems = find_sites(tmp_path)
    assert [site.names for site in sites] == [("a.example",)]
    assert problems == [
        f"{a}: include loop: included again, included from {b}:1, not followed",
        f"{b}: include loop: included again, included from {b}:1, not followed",
    ]


def test_include_chains_and_fan_outs_are_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webservers, "MAX_INCLUDES", 1000)
    write(tmp_path, "etc/nginx/nginx.conf", "http { include c/0; }")
    for number in range(webservers.MAX_DEPTH + 5):
        write(tmp_path, f"etc/nginx/c/{number}", f"include c/{number + 1};")
    write(tmp_path, "etc/apache2/apache2.conf", "Include f/0\n")
    for number in range(12):  # each file includes the next twice: 2**13 includes
        write(tmp_path, f"etc/apache2/f/{number}", f"Include f/{number + 1}\nInclude f/{number + 1}\n")
    write(tmp_path, "etc/apache2/f/12", "")
    _, problems = find_sites(tmp_path)
    deep = tmp_path / f"etc/nginx/c/{webservers.MAX_DEPTH - 1}"
    assert problems == [
        f"{deep}: more than {webservers.MAX_DEPTH} includes deep, included from {deep.parent}/"
        f"{webservers.MAX_DEPTH - 2}:1, not followed",
        f"{tmp_path}/etc/apache2/f/12: more than 1000 Apache includes followed, "
        f"included from {tmp_path}/etc/apache2/f/11:1: the rest skipped",
    ]


def test_a_nul_byte_is_reported(tmp_path: Path) -> None:
    conf = write(tmp_path, "etc/apache2/apache2.conf", "ServerName a\nInclude \x00\n")
    assert find_sites(tmp_path) == ([], [f"{conf}:2: cannot parse: a NUL byte"])


def test_a_missing_include_and_a_glob_matching_nothing(tmp_path: Path) -> None:
    conf = write(tmp_path, "etc/nginx/nginx.conf", "http {\n include none/*.conf;\n include missing.conf;\n}\n")
    sites, problems = find_sites(tmp_path)
    assert sites == []
    assert problems == [f"{conf.parent}/missing.conf: cannot read (No such file or directory), included from {conf}:3"]


def test_a_dangling_link_in_sites_enabled_is_reported(server: Path) -> None:
    (server / "etc/nginx/sites-enabled/gone").symlink_to("../sites-available/gone")
    (server / "etc/apache2/sites-enabled/gone.conf").symlink_to("/etc/apache2/sites-available/gone.conf")
    sites, problems = find_sites(server)
    assert problems == [
        f"{server}/etc/nginx/sites-available/gone: cannot read (No such file or directory), "
        f"included from {server}/etc/nginx/nginx.conf:25",
        f"{server}/etc/apache2/sites-available/gone.conf: cannot read (No such file or directory), "
        f"included from {server}/etc/apache2/apache2.conf:51",
    ]
    assert relative(sites, server) == EXPECTED


def test_an_empty_name_is_left_out(tmp_path: Path) -> None:
    write(tmp_path, "etc/nginx/nginx.conf", 'http { server { server_name "" a.example a.example; root /srv; } }')
    assert [site.names for site in find_sites(tmp_path)[0]] == [("a.example",)]


def test_a_snippet_many_servers_include_is_read_and_reported_once(tmp_path: Path) -> None:
    conf = write(
        tmp_path,
        "etc/nginx/nginx.conf",
        "http {\n server { server_name a; root /a; include php.conf; }\n"
        " server { server_name b; root /b; include php.conf; }\n}\n",
    )
    write(tmp_path, "etc/nginx/php.conf", "location ~ \\.php$ { fastcgi_pass unix:/run/php.sock;\n")
    sites, problems = find_sites(tmp_path)
    assert [site.names for site in sites] == [("a",), ("b",)]
    assert problems == [f'{conf.parent}/php.conf:1: cannot parse: unexpected end of file, expecting "}}"']


def test_a_file_over_the_cap_is_not_read(tmp_path: Path) -> None:
    conf = write(tmp_path, "etc/nginx/nginx.conf", "http { include big.conf; }")
    write(tmp_path, "etc/nginx/big.conf", "#" * (rooted.MAX_BYTES + 1))
    _, problems = find_sites(tmp_path)
    assert problems == [
        f"{conf.parent}/big.conf: cannot read (larger than {rooted.MAX_BYTES} bytes, not read), included from {conf}:1"
    ]


def test_a_fifo_or_a_device_is_not_opened(tmp_path: Path) -> None:
    conf = write(tmp_path, "etc/nginx/nginx.conf", "http { include fifo.conf; include null.conf; }")
    os.mkfifo(conf.parent / "fifo.conf")
    (conf.parent / "null.conf").symlink_to("/dev/null")  # the root's /dev/null: a copy may hold device nodes
    (tmp_path / "dev").mkdir()
    os.mkfifo(tmp_path / "dev/null")
    _, problems = find_sites(tmp_path)
    assert problems == [
        f"{conf.parent}/fifo.conf: cannot read (not a regular file), included from {conf}:1",
        f"{tmp_path}/dev/null: cannot read (not a regular file), included from {conf}:1",
    ]


def test_unreadable_files_are_named_and_the_rest_read(server: Path) -> None:
    """Read without root's override of file modes (setpriv drops it; a non-root user has none)."""
    shop = server / "etc/nginx/sites-available/shop.example.com"
    news = server / "etc/apache2/sites-available/news.example.com.conf"
    shop.chmod(0)
    news.chmod(0)
    code = (
        "import json, sys; from pathlib import Path; from corral.discovery.webservers import find_sites; "
        "sites, problems = find_sites(Path(sys.argv[1])); "
        "print(json.dumps({'names': [s.names[0] for s in sites], 'problems': problems}))"
    )
    command = [sys.executable, "-c", code, str(server)]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]
    result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    assert result["problems"] == [
        f"{shop}: cannot read (Permission denied), included from {server}/etc/nginx/nginx.conf:25",
        f"{news}: cannot read (Permission denied), included from {server}/etc/apache2/apache2.conf:51",
    ]  # once each: an enabled file that cannot be read is not then read again as a disabled site
    assert "shop.example.com" not in result["names"] and "news.example.com" not in result["names"]
    assert len(result["names"]) == 7


def test_apache_words_and_lines() -> None:
    assert apache_words('DocumentRoot "/var/www/a b"') == ["DocumentRoot", "/var/www/a b"]
    assert apache_words("DocumentRoot '/srv/x'  # not a comment") == [
        "DocumentRoot",
        "/srv/x",
        "#",
        "not",
        "a",
        "comment",
    ]
    assert apache_words(r'LogFormat "%h \"%r\"" combined') == ["LogFormat", '%h "%r"', "combined"]
    assert apache_words('ServerName "unterminated') == ["ServerName", "unterminated"]
    text = "# comment \\\n  still comment\nServerAlias a.example \\\n    b.example\n\n  DocumentRoot /srv\\\n"
    assert list(apache_lines(text)) == [(3, "ServerAlias a.example b.example"), (6, "DocumentRoot /srv")]


def test_apache_rhel_layout_main_server_and_server_root(tmp_path: Path) -> None:
    write(
        tmp_path,
        "etc/httpd/conf/httpd.conf",
        'ServerRoot "/etc/httpd"\nListen 80\nServerName www.example.com:80\nDocumentRoot "/var/www/html"\n'
        "IncludeOptional conf.d/*.conf\n",
    )
    sites, problems = find_sites(tmp_path)
    assert problems == []
    assert relative(sites, tmp_path) == [
        ("apache", ("www.example.com",), "var/www/html", "etc/httpd/conf/httpd.conf", 4, True)
    ]
    write(
        tmp_path,
        "etc/httpd/conf.d/shop.conf",
        "<VirtualHost *:80>\n ServerAlias b.example\n ServerName https://a.example\n</VirtualHost>\n"
        "<VirtualHost *:80>\n ServerName proxy.example\n ProxyPass / http://127.0.0.1:8080/\n</VirtualHost>\n",
    )
    sites, problems = find_sites(tmp_path)
    # the main server serves no longer; a virtual host without DocumentRoot has the main one's
    assert relative(sites, tmp_path) == [
        ("apache", ("a.example", "b.example", "proxy.example"), "var/www/html", "etc/httpd/conf.d/shop.conf", 1, True)
    ]
    assert problems == []


def test_apache_include_of_a_folder_relative_document_root_and_defines(tmp_path: Path) -> None:
    write(tmp_path, "etc/apache2/apache2.conf", "Define BASE /srv\nInclude vhosts\n")
    write(
        tmp_path, "etc/apache2/vhosts/a.conf", "<VirtualHost *>\nServerName a\nDocumentRoot ${BASE}/a\n</VirtualHost>\n"
    )
    write(
        tmp_path,
        "etc/apache2/vhosts/sub/b.conf",
        "<VirtualHost *>\nServerName b\nDocumentRoot htdocs/b\n</VirtualHost>\n",
    )
    write(
        tmp_path,
        "etc/apache2/vhosts/sub/c.conf",
        "UnDefine BASE\n<VirtualHost *>\nServerName c\nDocumentRoot ${BASE}/c\n</VirtualHost>\n",
    )
    sites, problems = find_sites(tmp_path)
    assert [(site.names, str(site.document_root.relative_to(tmp_path))) for site in sites] == [
        (("a",), "srv/a"),
        (("b",), "etc/apache2/htdocs/b"),
    ]
    c = tmp_path / "etc/apache2/vhosts/sub/c.conf"
    assert problems == [f"{c}:4: the DocumentRoot of c uses a variable no Define sets: not followed"]
    (tmp_path / "etc/apache2/vhosts/sub/again").symlink_to("..")
    again, problems = find_sites(tmp_path)  # a folder linked into itself: read down to the limit
    assert again == sites
    too_deep = (
        f"{tmp_path}/etc/apache2/vhosts: more than {webservers.MAX_DEPTH} folders deep, "
        f"included from {tmp_path}/etc/apache2/apache2.conf:2, not followed"
    )
    assert problems.count(too_deep) == 1


def test_apache_mod_macro_vhosts(tmp_path: Path) -> None:
    conf = write(
        tmp_path,
        "etc/apache2/apache2.conf",
        """<Macro VHost $name $domain>
<VirtualHost *:80>
  ServerName $domain
  ServerAlias www.$domain
  DocumentRoot "/var/www/$name"
</VirtualHost>
</Macro>
<Macro Loop>
Use Loop
</Macro>
Use VHost shop shop.example
Use vhost blog "blog.example"
Use Missing x
Use Loop
""",
    )
    sites, problems = find_sites(tmp_path)
    assert relative(sites, tmp_path) == [
        ("apache", ("shop.example", "www.shop.example"), "var/www/shop", "etc/apache2/apache2.conf", 11, True),
        ("apache", ("blog.example", "www.blog.example"), "var/www/blog", "etc/apache2/apache2.conf", 12, True),
    ]
    assert problems == [
        f"{conf}:13: cannot expand `Use missing`: no <Macro> of that name before",
        f"{conf}:14: cannot expand `Use loop`: used inside itself",
    ]


def test_apache_syntax_errors_name_file_and_line(server: Path) -> None:
    unclosed = write(
        server,
        "etc/apache2/sites-enabled/unclosed.conf",
        "<VirtualHost *:80>\n ServerName u.example\n DocumentRoot /srv/u\n",
    )
    crossed = write(
        server,
        "etc/apache2/sites-enabled/crossed.conf",
        "<VirtualHost *:80>\n <Directory /srv/c>\n DocumentRoot /srv/c\n</VirtualHost>\n</Directory>\n",
    )
    bad = write(server, "etc/apache2/conf-enabled/bad.conf", "<IfModule mod_x.c\nServerName x\n")
    sites, problems = find_sites(server)
    assert problems == [
        f"{bad}:1: cannot parse: a section line without its closing >",
        f"{crossed}:4: cannot parse: </VirtualHost> closes <directory> of line 2",
        f"{unclosed}:1: cannot parse: <virtualhost> is not closed",
    ]
    assert relative(sites, server) == EXPECTED


def test_apache_include_of_a_missing_file_and_include_optional(tmp_path: Path) -> None:
    main = write(
        tmp_path, "etc/apache2/apache2.conf", "IncludeOptional gone.conf\nInclude gone.conf\nInclude none/*.conf\n"
    )
    assert find_sites(tmp_path) == (
        [],
        [f"{main.parent}/gone.conf: cannot read (No such file or directory), included from {main}:2"],
    )


def test_apache_include_loop_is_caught(tmp_path: Path) -> None:
    main = write(tmp_path, "etc/apache2/apache2.conf", "Include a.conf\n")
    a = write(tmp_path, "etc/apache2/a.conf", "\nInclude /etc/apache2/apache2.conf\n")
    assert find_sites(tmp_path) == ([], [f"{main}: include loop: included again, included from {a}:2, not followed"])


def test_one_document_root_served_by_nginx_and_apache_is_one_site(tmp_path: Path) -> None:
    write(tmp_path, "etc/nginx/nginx.conf", "http { server { server_name shop.example; root /var/www/shop/; } }")
    write(
        tmp_path,
        "etc/apache2/apache2.conf",
        "<VirtualHost 127.0.0.1:8080>\nServerName shop.example\nServerAlias backend.shop.example\n"
        "DocumentRoot /var/www/shop\n</VirtualHost>\n",
    )
    write(
        tmp_path,
        "etc/apache2/sites-available/old.conf",
        "<VirtualHost *>\nServerName old.shop.example\nDocumentRoot /var/www/shop\n</VirtualHost>\n",
    )
    sites, problems = find_sites(tmp_path)
    assert problems == []
    assert relative(sites, tmp_path) == [
        ("nginx", ("shop.example", "backend.shop.example"), "var/www/shop", "etc/nginx/nginx.conf", 1, True)
    ]


def test_nginx_dump_is_split_by_file() -> None:
    dump = "# configuration file /etc/nginx/nginx.conf:\nhttp {}\n\n# configuration file /etc/nginx/a:\nx;\n"
    assert webservers._split_dump(dump) == {"/etc/nginx/nginx.conf": "http {}\n\n", "/etc/nginx/a": "x;\n"}


def test_a_failing_nginx_is_reported_and_the_files_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = write(tmp_path, "nginx", "#!/bin/sh\necho 'secret line of a config' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(webservers, "nginx_binary", lambda: str(fake))
    problems: list[str] = []
    assert webservers.nginx_dump(problems) is None
    assert problems == [
        f"`{fake} -T` failed (exit 1; `nginx -t` says why): the files under /etc/nginx are read instead"
    ]


def _nginx() -> Path | None:
    """install.sh unpacks nginx into the venv (not installed: that would make the machine a web server)."""
    unpacked = Path(sys.prefix) / "nginx" / "usr" / "sbin" / "nginx"
    installed = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")
    return unpacked if unpacked.is_file() else Path(installed) if installed else None


# In a mount namespace: /etc and /var overlaid (their changes stay in the test's folder), the fixture's copy
# mounted as /etc/nginx, the folders nginx -t wants made.
NAMESPACE = """set -e
mount --make-rprivate /
for top in etc var; do
  mkdir -p "$1/$top/upper" "$1/$top/work"
  mount -t overlay overlay -o "lowerdir=/$top,upperdir=$1/$top/upper,workdir=$1/$top/work" "/$top"
done
mkdir -p /etc/nginx /var/lib/nginx /var/log/nginx
mount --bind "$2" /etc/nginx
exec "$3" -c "$4"
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_nginx_T_gives_what_the_files_give(server: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """nginx itself loads the fixture's configuration (a copy with one site disabled) as /etc/nginx."""
    nginx = _nginx()
    if nginx is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no nginx: install.sh unpacks it into .venv/nginx")
        pytest.skip("no nginx (install.sh unpacks it into .venv/nginx)")
    (server / "etc/nginx/sites-enabled/crm.example.com.conf").unlink()
    expected = [site for site in relative(find_sites(server)[0], server) if site[0] == "nginx"]
    code = (
        "import json; from pathlib import Path; from corral.discovery import webservers; "
        "dump = webservers.nginx_dump([]); sites, problems = webservers.find_sites(Path('/')); "
        "print(json.dumps({'dumped': sorted(dump or ()), 'problems': problems, 'sites': [[s.server, s.names, "
        "str(s.document_root), str(s.declared_in), s.line, s.enabled] for s in sites if s.server == 'nginx']}))"
    )
    overlays = tmp_path_factory.mktemp("overlays")
    arguments = [str(overlays), str(server / "etc/nginx"), sys.executable, code]
    result = subprocess.run(
        ["unshare", "-m", "--", "sh", "-c", NAMESPACE, "sh", *arguments],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{nginx.parent}:{os.environ.get('PATH', '')}"},
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["problems"] == []
    assert "/etc/nginx/sites-enabled/blog" in found["dumped"]
    assert "/etc/nginx/sites-enabled/crm.example.com.conf" not in found["dumped"]
    assert [(s[0], tuple(s[1]), s[2].lstrip("/"), s[3].lstrip("/"), s[4], s[5]) for s in found["sites"]] == expected
    assert [site[5] for site in expected] == [True, True, True, True, False]


def test_a_fan_out_of_big_files_is_cut_by_statements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """300 includes of a file that includes 300 times one of 300 servers stayed under MAX_INCLUDES and made 27
    million statements: 4 GB and 106 s. One server's configuration yields at most MAX_STATEMENTS statements."""
    monkeypatch.setattr(webservers, "MAX_STATEMENTS", 5000)
    write(tmp_path, "etc/nginx/nginx.conf", "http {\n" + "include b.conf;\n" * 30 + "}\n")
    write(tmp_path, "etc/nginx/b.conf", "include c.conf;\n" * 30)
    write(tmp_path, "etc/nginx/c.conf", "".join(f"server {{ server_name s{i}; root /srv/s{i}; }}\n" for i in range(30)))
    write(tmp_path, "etc/apache2/apache2.conf", "Include b.conf\n" * 30)
    write(tmp_path, "etc/apache2/b.conf", "Include c.conf\n" * 30)
    write(tmp_path, "etc/apache2/c.conf", "".join(f"<VirtualHost *:80>\nServerName a{i}\nDocumentRoot /srv/a{i}\n"
                                                  "</VirtualHost>\n" for i in range(30)))
    sites, problems = find_sites(tmp_path)
    assert len(sites) == 60
    assert problems == [f"{tmp_path}/etc/nginx/c.conf: more than 5000 nginx statements: the rest skipped",
                        f"{tmp_path}/etc/apache2/c.conf: more than 5000 Apache statements: the rest skipped"]

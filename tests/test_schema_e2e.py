"""`corral schema` and the line `corral generate` points editors with: the article's configs and every template
validate against the schema as an editor sees them (tags as their strings), what corral refuses is refused, and
what corral accepts through a tag is not (docs/configuration.md, "Editors")."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from corral.plugins import installed_names
from corral.testing.cli import corral, plugin_site

ROOT = Path(__file__).parents[1]
ARTICLE = ROOT / "docs" / "examples" / "article"
ARTICLE_FILES = [ARTICLE / "nxs-backup.conf", *sorted((ARTICLE / "conf.d").glob("*.conf"))]
MODELINE = "# yaml-language-server: $schema="


class EditorLoader(yaml.SafeLoader):
    """YAML as yaml-language-server hands it to the schema with corral's tags declared: a tag's scalar is its
    string (`!env NAME` is "NAME"), `!include [globs]` its list of strings."""


def _as_written(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


for _tag in ("!include", "!env", "!file"):
    EditorLoader.add_constructor(_tag, _as_written)


def as_editor_sees(text: str) -> Any:
    return yaml.load(text, EditorLoader)


@pytest.fixture(scope="module")
def schema_text() -> str:
    done = corral("schema")
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def validator(schema_text: str) -> Draft202012Validator:
    schema = json.loads(schema_text)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    return Draft202012Validator(schema)


def _errors(validator: Draft202012Validator, document: Any) -> list[str]:
    return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(document)]


def _refused_at(validator: Draft202012Validator, document: Any, where: list[Any]) -> None:
    """The schema refuses ``document``, for the value at ``where`` (a schema that accepts anything fails here)."""
    errors = list(validator.iter_errors(document))
    assert errors, f"the schema accepted a fault at {where}"
    while errors and not any(list(error.absolute_path) == where for error in errors):
        errors = [inner for error in errors for inner in error.context or ()]  # the branches of an anyOf
    assert errors, _errors(validator, document)


def test_output_is_sorted_and_the_same_each_time_and_the_file_is_private(tmp_path: Path, schema_text: str) -> None:
    assert json.dumps(json.loads(schema_text), indent=2, sort_keys=True, ensure_ascii=False) + "\n" == schema_text
    target = tmp_path / "etc" / "corral.schema.json"
    target.parent.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("not the schema\n")
    target.symlink_to(victim)  # replaced, never written through
    done = corral("schema", "--output", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote {target}\n" and not target.is_symlink()
    assert target.read_text() == schema_text and victim.read_text() == "not the schema\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [path.name for path in target.parent.iterdir()] == [target.name]  # no temp file left beside it


def test_a_folder_in_the_way_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "corral.schema.json").mkdir()
    done = corral("schema", "-o", str(tmp_path / "corral.schema.json"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"corral: error: cannot write `{tmp_path / 'corral.schema.json'}`: ")
    assert len(done.stderr.splitlines()) == 1 and list(tmp_path.iterdir()) == [tmp_path / "corral.schema.json"]


@pytest.mark.parametrize("path", ARTICLE_FILES, ids=lambda path: path.name)
def test_the_articles_files_validate(validator: Draft202012Validator, path: Path) -> None:
    assert _errors(validator, as_editor_sees(path.read_text())) == []


def test_the_articles_main_file_with_its_jobs_written_in_validates(validator: Draft202012Validator) -> None:
    main = as_editor_sees(ARTICLE_FILES[0].read_text())
    main["jobs"] = [job for path in ARTICLE_FILES[1:] for job in as_editor_sees(path.read_text())]
    assert len(main["jobs"]) == 4 and _errors(validator, main) == []


@pytest.mark.parametrize("job_type", installed_names("source"))
def test_every_template_validates_and_points_at_the_schema(validator: Draft202012Validator, tmp_path: Path,
                                                           job_type: str) -> None:
    """Each type's template; the first with every storage (a storage's part is the same whatever the type)."""
    storages = installed_names("storage") if job_type == installed_names("source")[0] else ["local"]
    path = tmp_path / "etc" / "conf.d" / f"{job_type}.conf"
    done = corral("generate", "--type", job_type, "--storage", *storages, "--path", str(path),
                  env={"CORRAL_CONFIG": str(tmp_path / "etc" / "corral.conf")})
    assert done.returncode == 0, done.stderr
    text = path.read_text()
    assert text.startswith(f"{MODELINE}../corral.schema.json\n"), text
    assert "corral schema --output" in done.stderr  # the schema is not there yet: how to write it
    assert _errors(validator, as_editor_sees(text)) == []


def test_the_schemas_place_in_the_first_line(tmp_path: Path) -> None:
    """Relative to the template when it is a file, absolute on stdout, a URL as given, a file URL with a space."""
    generate = ("generate", "--type", "external", "--storage", "local")
    shown = corral(*generate, env={"CORRAL_CONFIG": "/srv/corral/main.conf"})
    assert shown.stdout.startswith(f"{MODELINE}/srv/corral/corral.schema.json\n") and shown.stderr == ""
    url = "https://example.com/corral.schema.json"
    assert corral(*generate, "--schema", url).stdout.startswith(f"{MODELINE}{url}\n")
    (tmp_path / "my etc").mkdir()
    (tmp_path / "my etc" / "corral.schema.json").write_text("{}")
    done = corral(*generate, "--schema", str(tmp_path / "my etc" / "corral.schema.json"), "-p", str(tmp_path / "j"))
    assert (tmp_path / "j").read_text().startswith(f"{MODELINE}file://{tmp_path}/my%20etc/corral.schema.json\n")
    assert done.stderr == ""  # the schema exists: nothing to say


# (where the fault goes, its value, where the schema must say it is): an unknown key is the mapping's fault
FAULTS: list[tuple[list[Any], Any, list[Any]]] = [
    (["sources", 0, "tagret"], ["bitrix_1_db"], ["sources", 0]),  # an unknown key in a source item
    (["sources", 0, "target"], 5, ["sources", 0, "target"]),  # a number where a list goes
    (["sources", 0, "gzip"], {"yes": True}, ["sources", 0, "gzip"]),  # a mapping where yes/no goes
    (["sources", 0, "excludes"], [["mysql"]], ["sources", 0, "excludes"]),  # a list in the list
    (["sources", 0, "connect", "db_user"], 42, ["sources", 0, "connect", "db_user"]),  # a number for a name
    (["sources", 0, "connect", "db_hots"], "localhost", ["sources", 0, "connect"]),
    (["sources", 0, "connect"], "localhost", ["sources", 0, "connect"]),  # a string where a mapping goes
    (["storages", 0, "hots"], "smb_host", ["storages", 0]),  # an unknown key of the storage's plugin
    (["storages", 0, "storage"], "nosuch", ["storages", 0, "storage"]),
    (["storages", 0, "store", "day"], 6, ["storages", 0, "store"]),
    (["dump_cmd"], "/bin/true", []),  # another type's job-level key
    (["type"], "nosuch", ["type"]),
]


@pytest.mark.parametrize(("where", "value", "said"), FAULTS, ids=lambda part: "-".join(map(str, part))
                         if isinstance(part, list) else "")
def test_the_schema_refuses_what_corral_refuses(validator: Draft202012Validator, where: list[Any], value: Any,
                                                said: list[Any]) -> None:
    (job,) = as_editor_sees((ARTICLE / "conf.d" / "bitrix-mysql.conf").read_text())
    assert _errors(validator, [job]) == []  # the fault alone is refused
    *parents, key = where
    node = job
    for part in parents:
        node = node[part]
    node[key] = value
    _refused_at(validator, [job], [0, *said])


def test_missing_and_misplaced_keys_are_refused(validator: Draft202012Validator) -> None:
    (job,) = as_editor_sees((ARTICLE / "conf.d" / "bitrix-mysql.conf").read_text())
    for key in ("job", "type", "storages", "sources"):
        _refused_at(validator, [{k: v for k, v in job.items() if k != key}], [0])
    _refused_at(validator, {"main": {"server_nmae": "x"}}, ["main"])
    _refused_at(validator, {"main": {}, "job": [job]}, [])  # `job:` is no top-level key


def test_tags_and_empty_values_are_not_refused(validator: Draft202012Validator, tmp_path: Path) -> None:
    """What corral accepts through a tag the schema accepts as the editor sees it; and corral takes it too."""
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (tmp_path / "password").write_text("s3cret\n")
    job = f"""- job: db
  type: mysql
  tmp_dir: {tmp_path}/tmp/db
  sources:
  - connect:
      db_host: localhost
      db_port: !env DB_PORT
      db_user: !env DB_USER
      db_password: !file ../password
      socket: ''
    target: [!env DB_NAME]
    gzip: !env GZIP
    excludes: ''
  storages:
  - storage: local
    enable: yes
    backup_dir: {tmp_path}/backups
    file_mode: '0640'
    store:
      days: !env DAYS
      month: 6
"""
    (conf_d / "db.conf").write_text(job)
    main = tmp_path / "corral.conf"
    main.write_text(f"main:\n  admin_mail: ops@example.com\n  blkio_weight: ''\n  general_path_to_all_tmp_dir: "
                    f"{tmp_path}/tmp\njobs: !include conf.d/*.conf\n")
    for path in (main, conf_d / "db.conf"):
        assert _errors(validator, as_editor_sees(path.read_text())) == [], path
    env = {"DB_PORT": "3307", "DB_USER": "backup", "DB_NAME": "shop", "GZIP": "yes", "DAYS": "6"}
    checked = corral("check", "-c", str(main), env=env)
    assert checked.returncode == 0, checked.stderr
    assert _errors(validator, as_editor_sees(job.replace("enable: yes", "enable: 'yes'"))) == []  # YAML 1.2's yes


def test_the_schema_lists_every_installed_plugin_and_a_third_partys(tmp_path: Path) -> None:
    code = (
        "from pydantic import Field\nfrom corral import SourceOptions, hookimpl\n"
        "from corral.config.models import SourceSchema\n\n"
        "class Hello(SourceOptions):\n    times: int = Field(default=1, description='how many hellos')\n\n"
        "@hookimpl\ndef corral_source_schema():\n    return SourceSchema(source=Hello)\n\n"
        "@hookimpl\ndef corral_source_dump(job, source, tmp_dir, run):\n    return iter(())\n"
    )
    site = plugin_site(tmp_path, "sources", "hello", code)
    plugin_site(tmp_path, "storages", "broken", "raise ImportError('no such library')\n")
    done = corral("schema", env={"PYTHONPATH": str(site)})
    assert done.returncode == 1  # the broken plugin is said, and the schema of the others is still written
    assert done.stderr.startswith("corral: error: storage plugin `broken` (corral-storage-broken 0.1) failed to "
                                  "load: ImportError: no such library"), done.stderr
    schema = json.loads(done.stdout)
    defs = schema["$defs"]
    assert defs["job"]["properties"]["type"]["enum"] == sorted([*installed_names("source"), "hello"])
    assert defs["storage"]["properties"]["storage"]["enum"] == installed_names("storage")
    hello = defs[defs["job.hello"]["properties"]["sources"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert hello["properties"]["times"]["description"] == "how many hellos"
    validator = Draft202012Validator(schema)
    job = {"job": "h", "type": "hello", "sources": [{"times": 3}], "storages": [{"storage": "local",
                                                                                 "backup_dir": "/b"}]}
    assert _errors(validator, [job]) == []
    _refused_at(validator, [{**job, "sources": [{"times": [3]}]}], [0, "sources", 0, "times"])
    _refused_at(validator, [{**job, "storages": [{"storage": "broken", "backup_dir": "/b"}]}],
                [0, "storages", 0, "storage"])


def test_notifiers_keys_are_in_main_and_every_key_is_described(validator: Draft202012Validator) -> None:
    from corral.plugins import load_notifiers

    main = validator.schema["$defs"]["main"]["properties"]
    contributed = {key for model in load_notifiers(print).hook.corral_main_schema() for key in model.model_fields}
    assert {"server_name", "admin_mail", "encrypt"} | contributed <= set(main)
    for name, definition in validator.schema["$defs"].items():
        for key, value in definition.get("properties", {}).items():
            assert value.get("description"), f"`{key}` of `{name}` has no description for editors"

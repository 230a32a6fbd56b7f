"""Resource limits reach the dump processes: nice/ionice always, cgroups where the kernel allows."""

from __future__ import annotations

import re
from pathlib import Path

from corral.testing.cli import corral, local_storage, write_main
from tests.conftest import report_json, script

PROBE = """\
out="$CORRAL_TMP_DIR/probe.txt"
awk '{print "nice=" $19}' /proc/self/stat > "$out"
ionice -p $$ | sed 's/^/ionice=/' >> "$out"
sed 's/^/cgroup=/' /proc/self/cgroup >> "$out"
for f in /sys/fs/cgroup/blkio/corral-*/blkio.throttle.read_bps_device; do
  [ -f "$f" ] && sed 's/^/read_bps=/' "$f" >> "$out"; done
for f in /sys/fs/cgroup/blkio/corral-*/blkio.weight /sys/fs/cgroup/blkio/corral-*/blkio.bfq.weight; do
  [ -f "$f" ] && sed 's/^/weight=/' "$f" >> "$out"; done
cp "$out" "$RESULT"
""" + report_json("$CORRAL_TMP_DIR/probe.txt", "probe")


def run_probe(tmp_path: Path, **main: object) -> tuple[str, str]:
    result = tmp_path / "result.txt"
    probe = script(tmp_path / "probe.sh", f'RESULT={result}\n' + PROBE)
    job = {"job": "probe", "type": "external", "dump_cmd": probe, "storages": [local_storage(tmp_path / "b")]}
    done = corral("start", "-c", str(write_main(tmp_path, [job], **main)))
    assert done.returncode == 0, done.stderr
    return result.read_text(), done.stderr


def test_dumps_run_at_the_lowest_priority(tmp_path: Path) -> None:
    probe, _ = run_probe(tmp_path)
    assert "nice=19" in probe
    assert "ionice=best-effort: prio 7" in probe


def test_cgroup_limits_apply_where_the_kernel_allows(tmp_path: Path) -> None:
    probe, stderr = run_probe(tmp_path, cpu_shares=512, block_io_read="1M", blkio_weight=500)
    cpu_cgroup = Path("/sys/fs/cgroup/cpu")
    v1 = (cpu_cgroup / "cpu.shares").exists()
    if v1:
        assert re.search(r"cgroup=\d+:cpu:/corral-\d+", probe) or "resource limit `cpu_shares` not applied" in stderr
        if re.search(r"cgroup=\d+:blkio:/corral-\d+", probe):
            assert re.search(r"read_bps=\d+:\d+ 1048576", probe)
        else:
            assert "not applied" in stderr
    else:
        assert re.search(r"cgroup=0::/corral-\d+", probe) or "not applied" in stderr
    if v1:
        assert re.search(r"weight=(default )?500", probe) or stderr.count("`blkio_weight` not applied") == 1
    assert not list(Path("/sys/fs/cgroup/cpu").glob("corral-*")), "the run removes its cgroups"

"""Smoke test of benchmarks/: every script runs in --quick mode and prints consistent ratio lines.

No timing is asserted (speed targets belong to the full benchmarks). What is asserted: each script
exits cleanly, prints one RATIO line per comparison whose ratio is the quotient of the two printed
times, one MEMORY line per variant and phase, and CHECK lines showing that the compared variants
compute the same thing (truncated vs full text tower; our SHIP step vs the released-style step).
"""
import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

NUM = r"[0-9.e+-]+"
RATIO = re.compile(rf"^RATIO (?P<name>.+): (?P<slow>\S+) (?P<a>{NUM}) s / (?P<fast>\S+) (?P<b>{NUM}) s = "
                   rf"(?P<r>{NUM}|inf)x \[quick mode: no target\] \(process CPU time: (?P<ca>{NUM}) s / "
                   rf"(?P<cb>{NUM}) s = (?P<cr>{NUM}|inf)x\)$")
MEMORY = re.compile(r"^MEMORY (?P<label>.+), (?P<phase>[^,]+): peak RSS during the phase (?P<peak>\d+) MiB "
                    r"\(RSS at start (?P<start>\d+) MiB, \+(?P<grow>-?\d+) MiB\)"
                    r"(?P<shared> \[shared process: --in-process\])?$")


def run_quick(module, tmp_path, capsys, *extra):
    rc = module.main(["--quick", "--in-process", "--threads", "1", "--workdir", str(tmp_path), *extra])
    assert rc == 0
    return capsys.readouterr().out.splitlines()


def ratios(lines):
    found = {}
    for line in lines:
        if line.startswith("RATIO"):
            m = RATIO.match(line)
            assert m, f"malformed ratio line: {line}"
            for a, b, r in ((m["a"], m["b"], m["r"]), (m["ca"], m["cb"], m["cr"])):
                a, b, r = float(a), float(b), float(r)
                assert a > 0 and b > 0
                assert r == pytest.approx(a / b, rel=0.02, abs=0.01), line  # the printed ratio is the quotient
            found[m["name"]] = (m["slow"], m["fast"], r)
    return found


def memory(lines):
    found = {}
    for line in lines:
        if line.startswith("MEMORY"):
            m = MEMORY.match(line)
            assert m, f"malformed memory line: {line}"
            assert int(m["peak"]) >= int(m["start"]) > 0 and int(m["grow"]) == int(m["peak"]) - int(m["start"])
            found[(m["label"], m["phase"])] = bool(m["shared"])
    return found


def check_value(lines, prefix, pattern):
    (line,) = [x for x in lines if x.startswith(prefix)]
    return float(re.search(pattern, line).group(1))


def test_text_truncation_quick(tmp_path, capsys):
    from benchmarks import bench_text_truncation as bench

    lines = run_quick(bench, tmp_path, capsys, "--classes", "6")
    found = ratios(lines)
    assert len(found) == 4 and all(v[:2] == ("full", "truncated") for v in found.values())
    assert {name.split(",")[0] for name in found} == {"text no-grad", "text fwd+bwd"}
    checks = [float(re.search(r"= ([0-9.e+-]+) over 6 x", x).group(1)) for x in lines if x.startswith("CHECK")]
    assert len(checks) == 2 and all(d < 1e-4 for d in checks)  # truncation is exact up to rounding
    mem = memory(lines)
    assert len(mem) == 8 and all(mem.values())  # 2 prompt kinds x 2 lengths x 2 phases, all in-process
    assert any("truncated length L = " in x and "of 77" in x for x in lines)


def test_feature_cache_quick(tmp_path, capsys):
    from benchmarks import bench_feature_cache as bench

    lines = run_quick(bench, tmp_path, capsys)
    (name,) = ratios(lines)
    assert "cached vs online" in name
    assert check_value(lines, "CACHE build", r"\): ([0-9.]+) s") > 0
    assert set(memory(lines)) == {("SHIP_CoOp epoch, online", "epoch"), ("SHIP_CoOp epoch, cached", "epoch")}
    assert os.listdir(tmp_path / "features")  # the cached variant really wrote cache entries


def test_ship_step_quick(tmp_path, capsys):
    from benchmarks import bench_ship_step as bench

    lines = run_quick(bench, tmp_path, capsys, "--steps", "2")
    (name,) = ratios(lines)
    assert "released" in name
    # The reimplemented released step and our trainer step compute the same losses and class features.
    assert check_value(lines, "CHECK", r"over 3 steps = ([0-9.e+-]+)") < 1e-4
    assert check_value(lines, "CHECK", r"text features\| difference = ([0-9.e+-]+)") < 1e-4
    assert set(memory(lines)) == {("SHIP_CoOp step, released", "steps"), ("SHIP_CoOp step, ours", "steps")}


def test_variants_in_fresh_processes(tmp_path):
    """The default mode: the parent starts one child process per variant and reads back its JSON."""
    script = os.path.join(REPO, "benchmarks", "bench_ship_step.py")
    out = subprocess.run([sys.executable, script, "--quick", "--threads", "1", "--workdir", str(tmp_path)],
                         capture_output=True, text=True, cwd=str(tmp_path), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert len(ratios(lines)) == 1
    mem = memory(lines)
    assert len(mem) == 2 and not any(mem.values())  # measured in isolated processes
    for name in ("released", "ours"):
        with open(tmp_path / "results" / f"{name}.json") as f:
            result = json.load(f)
        assert result["isolated"] is True and len(result["losses"]) == 2


def test_failing_variant_reports_its_log(tmp_path):
    import argparse

    from benchmarks import common

    args = argparse.Namespace(in_process=False, threads=1)
    script = os.path.join(REPO, "benchmarks", "bench_ship_step.py")
    with pytest.raises(RuntimeError, match="Unknown variant 'nope'"):
        common.run_variants(script, ["--quick"], args, {"nope": None}, str(tmp_path))


def test_bad_arguments_are_clear_errors(tmp_path):
    from benchmarks import bench_feature_cache, bench_text_truncation

    with pytest.raises(SystemExit, match="--classes must be between 1 and 100"):
        bench_text_truncation.main(["--quick", "--classes", "0", "--workdir", str(tmp_path)])
    with pytest.raises(SystemExit, match="--views must be >= 1"):
        bench_feature_cache.main(["--quick", "--views", "0", "--workdir", str(tmp_path)])

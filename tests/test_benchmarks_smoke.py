"""Smoke test of benchmarks/: every script runs in --quick mode and prints consistent lines.

No timing is asserted (speed targets belong to the full benchmarks). What is asserted: each script
exits cleanly, prints one RATIO line per comparison whose ratios are the quotients of the printed
times, one MEMORY line per variant, and CHECK lines showing that the compared variants compute the
same thing (truncated vs full text tower; our SHIP step vs the released-style step).
"""
import os
import re
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

NUM = r"[0-9.e+-]+"
RATIO = re.compile(rf"^RATIO (?P<name>.+): (?P<slow>\S+) (?P<a>{NUM}) s / (?P<fast>\S+) (?P<b>{NUM}) s = "
                   rf"(?P<r>{NUM}|inf)x(?: \[quick mode: no target\])? \(process CPU time: (?P<ca>{NUM}) s / "
                   rf"(?P<cb>{NUM}) s = (?P<cr>{NUM}|inf)x\)$")
MEMORY = re.compile(r"^MEMORY (?P<label>.+): \+(?P<grow>\d+) MiB RSS during its first round "
                    r"\(peak (?P<peak>\d+) MiB, from (?P<start>\d+) MiB\)$")
# Where the kernel does not let a process reset its RSS high-water mark, the lifetime peak is printed.
MEMORY_LIFETIME = re.compile(r"^MEMORY (?P<label>.+): lifetime peak RSS (?P<peak>\d+) MiB \(the high-water "
                             r"mark could not be reset\)$")


def run_quick(module, tmp_path, capsys, *extra):
    rc = module.main(["--quick", "--threads", "1", "--workdir", str(tmp_path), *extra])
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
            found[m["name"]] = (m["slow"], m["fast"])
    return found


def memory(lines):
    found = []
    for line in lines:
        if line.startswith("MEMORY"):
            m = MEMORY.match(line)
            if m:
                assert int(m["peak"]) >= int(m["start"]) > 0 and int(m["grow"]) == int(m["peak"]) - int(m["start"])
            else:
                m = MEMORY_LIFETIME.match(line)
                assert m and int(m["peak"]) > 0, f"malformed memory line: {line}"
            found.append(m["label"])
    return found


def check_value(lines, pattern):
    (line,) = [x for x in lines if x.startswith("CHECK")]
    return float(re.search(pattern, line).group(1))


def test_text_truncation_quick(tmp_path, capsys):
    from benchmarks import bench_text_truncation as bench

    lines = run_quick(bench, tmp_path, capsys, "--classes", "6", "--repeats", "2")
    found = ratios(lines)
    assert len(found) == 8
    assert sorted(found.values()) == [("full", "truncated")] * 4 + [("one-length", "truncated")] * 4
    assert {name.split(",")[0] for name in found} == {"text no-grad", "text fwd+bwd"}
    targeted = [x for x in lines if x.startswith("RATIO") and "[quick mode: no target]" in x]
    assert len(targeted) == 4 and all(": full " in x for x in targeted)  # the target applies to full / truncated
    checks = [[float(v) for v in re.findall(r"\| = ([0-9.e+-]+)", x)] for x in lines if x.startswith("CHECK")]
    assert len(checks) == 2 and all(len(c) == 2 and max(c) < 1e-4 for c in checks)  # exact up to rounding
    assert len(memory(lines)) == 12  # 2 prompt kinds x 2 workloads x 3 lengths
    assert sum("longest EOT + 1 = " in x and "of 77 positions" in x for x in lines) == 2


def test_feature_cache_quick(tmp_path, capsys):
    from benchmarks import bench_feature_cache as bench

    lines = run_quick(bench, tmp_path, capsys)
    assert list(ratios(lines).values()) == [("online", "cached")]
    (build,) = [x for x in lines if x.startswith("CACHE build")]
    assert float(re.search(r"\): ([0-9.]+) s", build).group(1)) > 0
    assert memory(lines) == ["SHIP_CoOp epoch, online", "SHIP_CoOp epoch, cached"]
    assert os.listdir(tmp_path / "features")  # the cached trainer really wrote cache entries


def test_ship_step_quick(tmp_path, capsys):
    from benchmarks import bench_ship_step as bench

    lines = run_quick(bench, tmp_path, capsys, "--steps", "2")
    assert list(ratios(lines).values()) == [("released", "ours")]
    # The reimplemented released step and our trainer step compute the same losses and class features.
    assert check_value(lines, r"over 3 steps = ([0-9.e+-]+)") < 1e-4
    assert check_value(lines, r"text features\| difference = ([0-9.e+-]+)") < 1e-4
    assert memory(lines) == ["SHIP_CoOp step, released", "SHIP_CoOp step, ours"]


def test_ship_step_imagenet_names_quick(tmp_path, capsys):
    """The ImageNet-size setting: past the 50 mixed names the classes are ImageNet's own, in label order."""
    import open_clip

    from benchmarks import bench_ship_step as bench

    lines = run_quick(bench, tmp_path, capsys, "--imagenet", "--classes", "60", "--shots", "1")
    assert list(ratios(lines).values()) == [("released", "ours")]
    assert any(x.startswith("RATIO SHIP_CoOp stage-2 step at ImageNet size") for x in lines)
    assert check_value(lines, r"over 2 steps = ([0-9.e+-]+)") < 1e-4
    with open(tmp_path / "data" / "ship_bench_images" / "split_ship_bench_images.json") as f:
        import json

        names = [name for _, _, name in json.load(f)["train"]]
    assert names == list(open_clip.IMAGENET_CLASSNAMES[:120])


def test_stage1_quick(tmp_path, capsys):
    from benchmarks import bench_stage1 as bench

    lines = run_quick(bench, tmp_path, capsys)
    assert list(ratios(lines).values()) == [("released", "ours")]
    assert check_value(lines, r"\| = ([0-9.e+-]+)") < 1e-4  # the released-style loss is the generator's loss
    assert memory(lines) == ["SHIP stage-1 step, released", "SHIP stage-1 step, ours", "SHIP stage-1 step, encode"]
    (estimate,) = [x for x in lines if x.startswith("ESTIMATE")]
    assert "over 8 images (4 classes x 2 shots" in estimate and "one-off encoding of 2 views" in estimate


def test_interleaved_alternates_variants_and_skips_warm_up():
    from benchmarks import common

    order = []
    calls = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    meter = common.Meter()
    times = common.interleaved(calls, 3, meter=meter, skip=1)
    assert order == ["a", "b"] * 3
    assert set(meter.memory) == {"a", "b"}  # memory of the first round of each
    for result in times.values():
        assert len(result["times_s"]) == len(result["cpu_s"]) == 3
        assert result["best_s"] == min(result["times_s"][1:]) and result["cpu_best_s"] == min(result["cpu_s"][1:])


def test_memory_phase_sees_an_allocation():
    import numpy as np

    from benchmarks import common

    meter = common.Meter()
    with meter.phase("alloc"):
        block = np.ones(64 * 1024 * 1024 // 8)  # 64 MiB, touched
    m = meter.memory["alloc"]
    del block
    if m["phase_peak"]:
        assert m["peak_mib"] - m["before_mib"] >= 60
    else:
        assert m["peak_mib"] >= 60


def test_bad_arguments_are_clear_errors(tmp_path):
    from benchmarks import bench_feature_cache, bench_text_truncation

    with pytest.raises(SystemExit, match="--classes must be between 1 and 100"):
        bench_text_truncation.main(["--quick", "--classes", "0", "--workdir", str(tmp_path)])
    with pytest.raises(SystemExit, match="--views must be >= 1"):
        bench_feature_cache.main(["--quick", "--views", "0", "--workdir", str(tmp_path)])

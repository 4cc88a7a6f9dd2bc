"""scripts/results.py (tables, CSV/Markdown/JSON, plot) and the protocol scripts' command plumbing.

The protocol scripts are exercised with a stub train.py (TRAIN_PY) that records a result the way
the trainers do, so the layout, skip/resume logic, load-epoch detection and final table are
checked without training anything.
"""
import csv
import importlib.util
import io
import json
import math
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from scipy.stats import t as student_t

from shipclip.results import harmonic_mean, record_evaluation

pytestmark = pytest.mark.slow  # runs the protocol shell scripts (about 40 s)

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"


def load_cli():
    spec = importlib.util.spec_from_file_location("results_cli", SCRIPTS / "results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cli = load_cli()


def put(root, role, dataset, trainer, seed, acc, classes, prefix="base2new"):
    path = Path(root) / prefix / role / dataset / "shots_16" / trainer / "cfg" / f"seed{seed}"
    metrics = {"accuracy": acc, "total": 100, "correct": int(acc)}
    record_evaluation(path, {"trainer": trainer, "dataset": dataset, "seed": seed},
                      {"split": "test", "epoch": 5, "classes": classes, "metrics": metrics}, log=None)


BASE = {("dtd", "CoOp"): [81.25, 83.5, 80.0], ("dtd", "ZeroshotCLIP"): [60.0, 60.0, 60.0],
        ("eurosat", "CoOp"): [90.125, 91.0, 92.5], ("eurosat", "ZeroshotCLIP"): [55.5, 55.5, 55.5]}
NEW = {("dtd", "CoOp"): [50.0, 52.25, 49.0], ("dtd", "ZeroshotCLIP"): [65.0, 65.0, 65.0],
       ("eurosat", "CoOp"): [60.5, 61.0], ("eurosat", "ZeroshotCLIP"): [70.0, 70.0, 70.0]}


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "output"
    for (dataset, trainer), values in BASE.items():
        for seed, acc in enumerate(values, start=1):
            put(root, "train_base", dataset, trainer, seed, acc, "base")
    for (dataset, trainer), values in NEW.items():
        for seed, acc in enumerate(values, start=1):  # eurosat CoOp has no new run for seed 3
            put(root, "test_new", dataset, trainer, seed, acc, "new")
    return root


def mean(values):
    return sum(values) / len(values)


def test_json_output_holds_the_recorded_numbers(tree, tmp_path, capsys):
    out = tmp_path / "summary.json"
    assert cli.main([str(tree), "--out", str(out)]) == 0  # format from the extension
    summary = json.loads(out.read_text())
    (table,) = summary["tables"]
    assert [m["label"] for m in table["methods"]] == ["ZeroshotCLIP", "CoOp"]
    keys = {m["label"]: m["key"] for m in table["methods"]}
    rows = {r["dataset"]: r for r in table["rows"]}
    for (dataset, trainer), values in BASE.items():
        c = rows[dataset]["cells"][keys[trainer]]
        assert c["Base"]["mean"] == pytest.approx(mean(values), abs=1e-12)
        assert c["New"]["mean"] == pytest.approx(mean(NEW[(dataset, trainer)]), abs=1e-12)
        assert c["H"]["mean"] == pytest.approx(harmonic_mean(mean(values), mean(NEW[(dataset, trainer)])))
    avg = rows["Average"]["cells"][keys["CoOp"]]
    b = (mean(BASE[("dtd", "CoOp")]) + mean(BASE[("eurosat", "CoOp")])) / 2
    n = (mean(NEW[("dtd", "CoOp")]) + mean(NEW[("eurosat", "CoOp")])) / 2
    assert avg["H"]["mean"] == pytest.approx(harmonic_mean(b, n))
    assert any("eurosat CoOp: seed 3 has a base run but no finished new run" in m for m in summary["missing"])
    printed = capsys.readouterr()
    assert "Base-to-new" in printed.out and f"Wrote json to {out}" in printed.err


def test_printed_table_numbers_equal_the_json_numbers(tree, tmp_path, capsys):
    out = tmp_path / "summary.json"
    cli.main([str(tree), "--format", "json", "--out", str(out)])
    summary = json.loads(out.read_text())
    capsys.readouterr()
    assert cli.main([str(tree)]) == 0
    printed = capsys.readouterr().out
    table = summary["tables"][0]
    lines = {line.split()[0]: line for line in printed.splitlines() if line.split()[:1] in (["dtd"], ["eurosat"],
                                                                                            ["Average"])}
    for row in table["rows"]:
        for m in table["methods"]:
            for metric in ("Base", "New", "H"):
                stat = row["cells"][m["key"]][metric]
                text = f"{stat['mean']:.2f}"
                if stat["std"] is not None and stat["n"] > 1:
                    text += f" ± {stat['std']:.2f}"
                text += "" if stat["complete"] else "*"
                assert text in lines[row["dataset"]], (row["dataset"], m["label"], metric)
    assert "eurosat" in lines and "*" in lines["eurosat"]  # the incomplete CoOp New cell is marked
    assert "Missing:" in printed


def test_csv_is_long_format_at_full_precision(tree, tmp_path):
    out = tmp_path / "summary.csv"
    assert cli.main([str(tree), "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows and list(rows[0]) == cli.CSV_FIELDS
    by_key = {(r["row"], r["method"], r["metric"]): r for r in rows}
    r = by_key[("dtd", "CoOp", "Base")]
    assert float(r["mean"]) == mean(BASE[("dtd", "CoOp")])
    assert r["seeds"] == "1 2 3" and r["n"] == "3" and r["complete"] == "True"
    r = by_key[("eurosat", "CoOp", "New")]
    assert float(r["mean"]) == mean(NEW[("eurosat", "CoOp")]) and r["complete"] == "False"
    assert by_key[("Average", "CoOp", "H")]["row_kind"] == "average"


def test_markdown_output(tree, tmp_path):
    out = tmp_path / "summary.md"
    assert cli.main([str(tree), "--format", "md", "--out", str(out), "--no-std"]) == 0
    text = out.read_text()
    assert "### Base-to-new" in text and "| Dataset" in text and "### Missing" in text
    assert f"| {mean(BASE[('dtd', 'CoOp')]):.2f}" in text.replace("  ", " ")
    assert "±" not in text


def test_plot_is_written(tree, tmp_path):
    out = tmp_path / "plots" / "base2new.png"
    assert cli.main([str(tree), "--plot", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 2000


def test_plot_without_matplotlib_says_what_to_install(tree, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SystemExit, match="pip install matplotlib"):
        cli.main([str(tree), "--plot", str(tmp_path / "x.png")])


def test_protocol_filter_and_errors(tree, tmp_path, capsys):
    assert cli.main([str(tree), "--protocol", "gzsl"]) == 1
    assert "No runs found" in capsys.readouterr().err
    assert cli.main([str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_runs_as_a_script_from_any_folder(tree, tmp_path):
    for cwd in (REPO, tmp_path):
        proc = subprocess.run([sys.executable, str(SCRIPTS / "results.py"), str(tree), "--format", "csv"],
                              cwd=cwd, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("protocol,row,")
        assert "missing: base2new eurosat CoOp" in proc.stderr


# ------------------------------------------------------------------------------ paired comparisons


def t_interval_text(diffs):
    """``[low, high]`` of mean ± t_{0.975, n-1} · sd / √n, computed here, formatted as printed."""
    n = len(diffs)
    m = statistics.fmean(diffs)
    half = student_t.ppf(0.975, n - 1) * statistics.stdev(diffs) / math.sqrt(n)
    return f"[{m - half:+.2f}, {m + half:+.2f}]", (m - half > 0 or m + half < 0)


def printed_rows(text, first_columns):
    """Lines of a printed table whose first words are ``first_columns``."""
    return [line for line in text.splitlines() if line.split()[:len(first_columns)] == list(first_columns)]


def test_paired_prints_differences_means_intervals_and_marks(tree, capsys):
    assert cli.main([str(tree), "--paired", "ZeroshotCLIP", "CoOp"]) == 0
    out = capsys.readouterr().out
    assert "CoOp - ZeroshotCLIP per seed" in out and "Student t" in out and "sample sd (n-1)" in out
    assert "H per seed = harmonic mean of that seed's Base and New" in out
    for dataset in ("dtd", "eurosat"):
        for metric in ("Base", "New", "H"):
            seeds = [s for s in (1, 2, 3) if s <= len(NEW[(dataset, "CoOp")]) or metric == "Base"]
            a = {s: (BASE[(dataset, "ZeroshotCLIP")][s - 1], NEW[(dataset, "ZeroshotCLIP")][s - 1]) for s in seeds}
            b = {s: (BASE[(dataset, "CoOp")][s - 1], NEW[(dataset, "CoOp")][s - 1] if metric != "Base" else None)
                 for s in seeds}
            pick = {"Base": lambda v: v[0], "New": lambda v: v[1], "H": lambda v: harmonic_mean(*v)}[metric]
            diffs = [pick(b[s]) - pick(a[s]) for s in seeds]
            (line,) = printed_rows(out, (dataset, metric))
            interval, excludes = t_interval_text(diffs)
            assert " ".join(f"{d:+.2f}" for d in diffs) in line, line
            assert f"{statistics.fmean(diffs):+.2f}" in line and interval in line, line
            assert line.rstrip().endswith(str(len(diffs)))
            assert ("†" in line) == excludes, line
    # eurosat: CoOp has no new-class run for seed 3, so New and H pair seeds 1 and 2 only, and say so.
    assert "eurosat (New, H): seed 3 has ZeroshotCLIP but not CoOp: not paired" in out
    assert printed_rows(out, ("eurosat", "New"))[0].split()[2:4] == ["1", "2"]


def test_paired_with_one_seed_prints_no_interval(tree, capsys):
    assert cli.main([str(tree), "--paired", "ZeroshotCLIP", "CoOp", "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    (line,) = printed_rows(out, ("dtd", "Base"))
    diff = BASE[("dtd", "CoOp")][1] - BASE[("dtd", "ZeroshotCLIP")][1]
    assert f"{diff:+.2f}" in line and "no interval (n=1)" in line and "†" not in line


def test_paired_csv_and_json_at_full_precision(tree, tmp_path, capsys):
    out = tmp_path / "paired.csv"
    assert cli.main([str(tree), "--paired", "ZeroshotCLIP", "CoOp", "--out", str(out)]) == 0
    rows = {(r["row"], r["metric"]): r for r in csv.DictReader(io.StringIO(out.read_text()))}
    r = rows[("dtd", "New")]
    diffs = [b - a for a, b in zip(NEW[("dtd", "ZeroshotCLIP")], NEW[("dtd", "CoOp")])]
    assert [float(x) for x in r["differences"].split()] == pytest.approx(diffs)
    half = student_t.ppf(0.975, 2) * statistics.stdev(diffs) / math.sqrt(3)
    assert float(r["low"]) == pytest.approx(statistics.fmean(diffs) - half)
    assert float(r["high"]) == pytest.approx(statistics.fmean(diffs) + half)
    assert r["n"] == "3" and r["seeds"] == "1 2 3" and r["a"] == "ZeroshotCLIP" and r["b"] == "CoOp"
    assert rows[("eurosat", "New")]["only_a"] == "3"
    capsys.readouterr()
    assert cli.main([str(tree), "--paired", "ZeroshotCLIP", "CoOp", "--format", "json"]) == 0
    (comparison,) = json.loads(capsys.readouterr().out)["comparisons"]
    average = next(row for row in comparison["rows"] if row["row"] == "Average")
    assert average["metrics"]["Base"]["datasets"] == ["dtd", "eurosat"]


def test_paired_unknown_method_names_the_available_ones(tree, capsys):
    assert cli.main([str(tree), "--paired", "CoOp", "KgCoOp"]) == 2
    assert "No protocol has both 'CoOp' and 'KgCoOp'" in capsys.readouterr().err


def test_ablation_table_lists_variants_as_rows(tmp_path, capsys):
    root = tmp_path / "output"
    values = {"full": ([80.0, 82.0, 81.0], [60.0, 62.0, 61.5]), "no_kl": ([80.5, 81.0, 81.5], [57.0, 58.0, 58.5])}
    for variant, (bases, news) in values.items():
        for seed, (b, n) in enumerate(zip(bases, news), start=1):
            put(root, "train_base", "dtd", "SHIP_CoOp", seed, b, "base", prefix=f"ablation/{variant}/base2new")
            put(root, "test_new", "dtd", "SHIP_CoOp", seed, n, "new", prefix=f"ablation/{variant}/base2new")
    assert cli.main([str(root), "--protocol", "ablation"]) == 0
    out = capsys.readouterr().out
    assert "mean ± sample std (n-1) over seeds" in out and "variant - full" in out
    (full,) = printed_rows(out, ("dtd", "full", "(reference)"))
    assert f"{statistics.fmean(values['full'][0]):.2f} ± {statistics.stdev(values['full'][0]):.2f}" in full
    (no_kl,) = printed_rows(out, ("no_kl",))
    new_diffs = [v - r for v, r in zip(values["no_kl"][1], values["full"][1])]
    interval, excludes = t_interval_text(new_diffs)
    assert f"{statistics.fmean(new_diffs):+.2f} {interval}" in no_kl and excludes and "†" in no_kl
    h_means = harmonic_mean(statistics.fmean(values["no_kl"][0]), statistics.fmean(values["no_kl"][1]))
    assert f"{h_means:.2f}" in no_kl
    assert cli.main([str(root), "--protocol", "ablation", "--reference", "missing"]) == 2
    assert "not an ablation variant" in capsys.readouterr().err


# ------------------------------------------------------------------------------ protocol scripts

STUB_TRAIN = textwrap.dedent('''
    """Stand-in for train.py: logs its command line and records a result like the trainers do."""
    import argparse, json, os, sys
    from shipclip.results import record_evaluation

    p = argparse.ArgumentParser()
    for flag in ("--root", "--seed", "--trainer", "--dataset-config-file", "--config-file", "--output-dir",
                 "--model-dir", "--load-epoch"):
        p.add_argument(flag)
    p.add_argument("--eval-only", action="store_true")
    p.add_argument("opts", nargs=argparse.REMAINDER)
    a = p.parse_args()
    with open(os.environ["STUB_CALLS"], "a") as fh:
        fh.write(json.dumps(sys.argv[1:]) + "\\n")
    os.makedirs(a.output_dir, exist_ok=True)
    with open(os.path.join(a.output_dir, "log.txt"), "a") as fh:
        fh.write("started\\n")
    if os.environ.get("STUB_CRASH") and a.output_dir.endswith(os.environ["STUB_CRASH"]):
        sys.exit(3)
    opts = dict(zip(a.opts[::2], a.opts[1::2]))
    if a.eval_only and a.model_dir:
        assert os.path.isdir(a.model_dir), a.model_dir
    if not a.eval_only:
        os.makedirs(os.path.join(a.output_dir, "prompt_learner"), exist_ok=True)
        open(os.path.join(a.output_dir, "prompt_learner", "model.pth.tar-7"), "w").close()
        with open(os.path.join(a.output_dir, "prompt_learner", "checkpoint"), "w") as fh:
            fh.write("model.pth.tar-7\\n")
    sub = opts.get("DATASET.SUBSAMPLE_CLASSES", "all")
    acc = 50.0 + int(a.seed) + (20.0 if sub == "base" else 0.0) + (5.0 if a.trainer.startswith("SHIP") else 0.0)
    classes = "joint" if opts.get("TEST.JOINT") == "True" else sub
    metrics = {"accuracy": acc}
    if classes == "joint":
        metrics.update(seen=acc + 10.0, unseen=acc - 10.0)
    record_evaluation(a.output_dir, {"trainer": a.trainer, "seed": int(a.seed), "subsample_classes": sub},
                      {"split": "test", "epoch": int(a.load_epoch or 7), "classes": classes, "metrics": metrics},
                      log=None)
''')


@pytest.fixture
def env(tmp_path):
    configs = tmp_path / "configs"
    for dataset in ("dtd", "eurosat", "imagenet", "gzsl_cub", "toyworld"):
        (configs / "datasets").mkdir(parents=True, exist_ok=True)
        (configs / "datasets" / f"{dataset}.yaml").write_text("DATASET:\n  NAME: X\n")
    for trainer in ("CoOp", "ZeroshotCLIP", "SHIP_CoOp"):
        (configs / "trainers" / trainer).mkdir(parents=True)
        for cfg in ("cfg", "toyworld"):
            (configs / "trainers" / trainer / f"{cfg}.yaml").write_text("OPTIM:\n  MAX_EPOCH: 7\n")
    stub = tmp_path / "stub_train.py"
    stub.write_text(STUB_TRAIN)
    env = dict(os.environ, PYTHON=sys.executable, TRAIN_PY=str(stub), CONFIGS=str(configs), DATA=str(tmp_path / "data"),
               OUTPUT=str(tmp_path / "out"), STUB_CALLS=str(tmp_path / "calls.jsonl"), SEEDS="1 2")
    for key in ("OPTS", "LOADEP", "DRY_RUN", "SHOTS", "TARGETS", "DG_TARGETS", "TRAINER", "CFG", "TRAINERS"):
        env.pop(key, None)
    return env


def bash(script, *args, env, cwd=None, check=True):
    proc = subprocess.run(["bash", str(SCRIPTS / script), *args], env=env, cwd=cwd or REPO, capture_output=True,
                          text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def calls(env):
    path = Path(env["STUB_CALLS"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def flag(call, name):
    return call[call.index(name) + 1] if name in call else None


def test_base2new_script_layout_skip_and_resume(env, tmp_path):
    env["OPTS"] = "OPTIM.MAX_EPOCH 7"
    proc = bash("base2new.sh", "dtd", "CoOp", "cfg", env=env, cwd=tmp_path)
    made = calls(env)
    assert len(made) == 4
    out = Path(env["OUTPUT"])
    train_dir = out / "base2new/train_base/dtd/shots_16/CoOp/cfg/seed1"
    train, test = made[0], made[1]
    assert flag(train, "--output-dir") == str(train_dir) and "--eval-only" not in train
    assert train[-6:] == ["DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH", "7"]
    assert flag(test, "--output-dir") == str(out / "base2new/test_new/dtd/shots_16/CoOp/cfg/seed1")
    assert "--eval-only" in test and flag(test, "--model-dir") == str(train_dir)
    assert flag(test, "--load-epoch") == "7"  # read from the checkpoint pointer
    assert "DATASET.SUBSAMPLE_CLASSES" in test and test[test.index("DATASET.SUBSAMPLE_CLASSES") + 1] == "new"
    assert flag(train, "--config-file") == str(Path(env["CONFIGS"]) / "trainers/CoOp/cfg.yaml")
    assert proc.stdout.count("\n+ ") >= 4  # the command lines are printed
    # The final table: CoOp base = mean(71, 72), new = mean(51, 52)
    assert "71.50 ± 0.50" in proc.stdout and "51.50 ± 0.50" in proc.stdout

    # Everything finished: a second call skips every step.
    proc = bash("base2new.sh", "dtd", "CoOp", "cfg", env=env, cwd=tmp_path)
    assert len(calls(env)) == 4 and proc.stdout.count("Skip:") == 4

    # An unfinished run (crashed before its result) is re-run in place; LOADEP overrides the pointer.
    os.remove(out / "base2new/test_new/dtd/shots_16/CoOp/cfg/seed2/results.json")
    env["LOADEP"] = "3"
    proc = bash("base2new.sh", "dtd", "CoOp", "cfg", env=env, cwd=tmp_path)
    assert "Resume:" in proc.stdout and len(calls(env)) == 5
    assert flag(calls(env)[-1], "--load-epoch") == "3"


def test_failing_step_blocks_only_its_dependents(env, tmp_path):
    env["STUB_CRASH"] = "train_base/dtd/shots_16/CoOp/cfg/seed1"
    proc = bash("base2new.sh", "dtd", "CoOp", "cfg", env=env, check=False)
    assert proc.returncode != 0
    made = [flag(call, "--output-dir") for call in calls(env)]
    # seed 1's training crashed, so its new-class evaluation never starts; seed 2 runs both steps
    assert len(made) == 3 and not any("test_new/dtd/shots_16/CoOp/cfg/seed1" in d for d in made)
    assert sum("seed2" in d for d in made) == 2
    assert "blocked: base2new dtd CoOp/cfg seed 1: new classes" in proc.stdout
    assert "The table is printed once every run finished." in proc.stdout and "±" not in proc.stdout


def test_zeroshot_runs_are_eval_only_without_model(env):
    bash("base2new.sh", "dtd", "ZeroshotCLIP", "cfg", env=dict(env, SEEDS="1"))
    made = calls(env)
    assert len(made) == 2
    for call in made:
        assert "--eval-only" in call and "--model-dir" not in call and "--load-epoch" not in call


def test_gzsl_and_fewshot_scripts(env):
    env["SEEDS"] = "1"
    proc = bash("gzsl.sh", "CoOp", "cfg", env=dict(env, DATASETS="gzsl_cub"))
    train, joint = calls(env)
    assert "/gzsl/train_seen/gzsl_cub/shots_16/CoOp/cfg/seed1" in flag(train, "--output-dir")
    assert joint[-4:] == ["DATASET.SUBSAMPLE_CLASSES", "all", "TEST.JOINT", "True"]
    assert flag(joint, "--model-dir") == flag(train, "--output-dir")
    assert "U" in proc.stdout and f"{harmonic_mean(41.0, 61.0):.2f}" in proc.stdout  # seen 61, unseen 41
    proc = bash("fewshot.sh", "dtd", "CoOp", "cfg", env=dict(env, SHOTS="1 4"))
    shots = [flag(c, "DATASET.NUM_SHOTS") for c in calls(env)[2:]]
    assert shots == ["1", "4"] and "1-shot" in proc.stdout and "4-shot" in proc.stdout


def test_xd_dry_run_trains_ship_per_target(env):
    proc = bash("xd.sh", "SHIP_CoOp", "cfg", env=dict(env, DRY_RUN="1", TARGETS="dtd eurosat", DG_TARGETS=""))
    assert calls(env) == []
    lines = [line for line in proc.stdout.splitlines() if line.startswith("+ ") and "stub_train.py" in line]
    assert len(lines) == 4 * 2  # (train per target + test) x 2 targets x 2 seeds
    assert "xd/train/imagenet/shots_16/SHIP_CoOp/cfg/to_dtd/seed1" in lines[0]
    assert "TRAINER.SHIP.LABEL_ONLY all-target TRAINER.SHIP.TARGET_DATASET dtd" in lines[0]
    assert "xd/test/dtd/shots_16/SHIP_CoOp/cfg/seed1" in lines[1] and "--eval-only" in lines[1]
    proc = bash("xd.sh", "CoOp", "cfg", env=dict(env, DRY_RUN="1", TARGETS="dtd", DG_TARGETS="", SEEDS="1"))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("+ ") and "stub_train.py" in line]
    assert len(lines) == 2 and "xd/train/imagenet/shots_16/CoOp/cfg/seed1" in lines[0]
    assert "SHIP" not in proc.stdout.split("results.py")[0]


def test_ablation_variants(env, tmp_path):
    variants = tmp_path / "variants.txt"
    variants.write_text("# comment\n\nfull:\nno_kl: TRAINER.SHIP.LAMBDA_KL 0.0\nTRAINER.SHIP.USE_BIAS False\n")
    proc = bash("ablation.sh", "dtd", str(variants), env=dict(env, DRY_RUN="1", SEEDS="1", CFG="cfg"))
    assert "== ablation full (no overrides): base2new dtd SHIP_CoOp/cfg seed 1: base classes" in proc.stdout
    assert "ablation/no_kl/base2new/train_base/dtd/shots_16/SHIP_CoOp/cfg/seed1" in proc.stdout
    assert "ablation/USE_BIAS=False/base2new/test_new/dtd" in proc.stdout
    commands = [line for line in proc.stdout.splitlines() if line.startswith("+ ") and "stub_train.py" in line]
    assert len(commands) == 3 * 2
    assert sum("TRAINER.SHIP.LAMBDA_KL 0.0" in line for line in commands) == 2
    bad = bash("ablation.sh", "dtd", "TRAINER.SHIP.LAMBDA_KL", env=dict(env, DRY_RUN="1", CFG="cfg"), check=False)
    assert bad.returncode != 0 and "odd number of override tokens" in bad.stderr


def test_base2new_default_mode_dry_run(env):
    env = dict(env, DRY_RUN="1", TOYWORLD_ARGS="--quick")
    env.pop("SEEDS")  # the built-in default runs seed 1 only
    proc = bash("base2new.sh", env=env)
    out = proc.stdout
    assert "-m shipclip.toyworld.prepare --root" in out and "--quick" in out
    runs = [line for line in out.splitlines() if line.startswith("+ ") and "stub_train.py" in line]
    assert len(runs) == 6  # 3 trainers x (base + new) x seed 1
    for trainer in ("ZeroshotCLIP", "CoOp", "SHIP_CoOp"):
        assert any(f"trainers/{trainer}/toyworld.yaml" in line for line in runs)
    assert all("MODEL.BACKBONE.NAME '<TOYWORLD_BACKBONE>'" in line for line in runs)
    assert all("seed1" in line for line in runs)


def test_scripts_need_data_and_known_configs(env):
    no_data = dict(env)
    no_data.pop("DATA")
    proc = bash("base2new.sh", "dtd", "CoOp", "cfg", env=no_data, check=False)
    assert proc.returncode != 0 and "DATA is not set" in proc.stderr
    proc = bash("base2new.sh", "dtd", "CoOp", "nope", env=env, check=False)
    assert proc.returncode != 0 and "nope.yaml not found" in proc.stderr and "cfg" in proc.stderr

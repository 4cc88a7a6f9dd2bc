"""The protocol scripts end to end: real ``train.py`` runs on generated data with a tiny random CLIP.

Each script is called the way a user calls it (``bash scripts/<protocol>.sh ...`` with ``DATA``,
``OUTPUT``, ``SEEDS``, ``SHOTS`` and ``OPTS`` in the environment), on tiny copies of the benchmarks
in their real layout (``shipclip_testing.fake_datasets``) and a tiny random open_clip model (weights
``none``), one epoch each. The tables printed by ``scripts/results.py`` are then checked against the
``results.json`` files the runs wrote, with the seed means, harmonic means and averages recomputed
here. Base-to-new runs two seeds (ZeroshotCLIP on two datasets, CoOp and SHIP_CoOp on one); the
other protocols run one seed each to keep the file fast. Independent script calls run two at a time.
CoOp's base-to-new runs are repeated with ``LAUNCHER=local WORKERS=2`` from another folder (OUTPUT is
relative, so the command lines are the same) and must write the same results.json files.
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shipclip_testing.fake_datasets import make_fake_dataset
from shipclip_testing.models import tiny_config, write_tiny_config

pytestmark = pytest.mark.slow  # end-to-end protocol scripts on a tiny model (about 2 minutes)

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
SHOTS = 2
NUM_CLASSES = 4  # base2new: 2 base + 2 new classes
COUNTS = (4, 2, 3)  # images per class in train / val / test
# The default trainer config each script picks (scripts/common.sh default_cfg).
BASE2NEW_CFG = {"ZeroshotCLIP": "vit_b16", "CoOp": "vit_b16_ctxv1", "SHIP_CoOp": "vit_b16_ctxv1"}
SHIP_SIZES = ["TRAINER.SHIP.ENC_HIDDEN", "32", "TRAINER.SHIP.LATENT_DIM", "8", "TRAINER.SHIP.GEN_HIDDEN", "32",
              "TRAINER.SHIP.EPOCHS", "1", "TRAINER.SHIP.BATCH_SIZE", "8", "TRAINER.SHIP.N_CTX", "2"]
TINY_TRAINER_YAML = """\
# A tiny SHIP_CoOp recipe given to ablation.sh as a CFG path.
DATALOADER:
  TRAIN_X:
    BATCH_SIZE: 4
  TEST:
    BATCH_SIZE: 8
  NUM_WORKERS: 0
INPUT:
  TRANSFORMS: ["random_flip", "normalize"]
OPTIM:
  NAME: "sgd"
  LR: 0.002
  MAX_EPOCH: 1
  LR_SCHEDULER: "cosine"
TRAINER:
  COOP:
    N_CTX: 2
    PREC: "fp32"
"""


# ------------------------------------------------------------------------------------ helpers
def run_script(script, args, env, cwd):
    return subprocess.run(["bash", str(SCRIPTS / script), *args], env=env, cwd=str(cwd), capture_output=True,
                          text=True, timeout=900)


def run_chains(chains, cwd):
    """Run chains of (script, args, env) concurrently, two at a time; each chain in order.

    Returns {(script, *args): CompletedProcess}. A chain stops at its first failing call.
    """
    def run_chain(chain):
        done = {}
        for script, args, env in chain:
            proc = run_script(script, args, env, cwd)
            done[(script, *args)] = proc
            if proc.returncode != 0:
                break
        return done

    results = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in pool.map(run_chain, chains):
            results.update(done)
    return results


def describe(proc):
    return f"exit code {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"


def check_all_succeeded(procs, expected):
    for key in expected:
        assert key in procs, f"{key} did not run (an earlier call of its chain failed)"
        assert procs[key].returncode == 0, f"{' '.join(key)} failed: {describe(procs[key])}"


def results_cli(*args, cwd):
    proc = subprocess.run([sys.executable, str(SCRIPTS / "results.py"), *map(str, args)], cwd=str(cwd),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, describe(proc)
    return proc


def final_test(run_dir):
    """The run's results.json and its test evaluation of the last epoch (read without shipclip)."""
    path = Path(run_dir) / "results.json"
    assert path.is_file(), f"{path} was not written"
    doc = json.loads(path.read_text())
    tests = [e for e in doc["evaluations"] if e["split"] == "test"]
    assert tests, f"{path} holds no test evaluation"
    last = max(-1 if e["epoch"] is None else e["epoch"] for e in tests)
    (entry,) = [e for e in tests if (-1 if e["epoch"] is None else e["epoch"]) == last]
    metrics = entry["metrics"]
    assert metrics["accuracy"] == pytest.approx(100.0 * metrics["correct"] / metrics["total"], abs=1e-9)
    return doc, entry


def mean_std(values):
    mean = math.fsum(values) / len(values)
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def hm(a, b):
    return 0.0 if a + b == 0 else 2.0 * a * b / (a + b)


def parse_tables(text):
    """``results.py`` terminal output -> {title start: {"headers": [...], "rows": {first cell: {header: cell}},
    "row_list": [{header: cell}, ...]}}.

    Cells are cut at the columns of the dashed line under the header; a blank first cell (a
    table with several rows per dataset) repeats the one above it in ``row_list``. A script's
    output is read from its final ``results.py`` call on (the runs' logs come before it).
    """
    lines = text.splitlines()
    calls = [k for k, line in enumerate(lines) if line.startswith("+ ") and "scripts/results.py" in line]
    tables, i = {}, (calls[-1] + 1 if calls else 0)
    while i < len(lines):
        if not lines[i].startswith("== "):
            i += 1
            continue
        title = lines[i][3:]
        i += 1
        while not re.match(r"^-+(\s+-+)*$", lines[i + 1]):  # skip the seeds note up to the header
            i += 1
        spans = [m.span() for m in re.finditer(r"-+", lines[i + 1])]
        spans = [(start, spans[k + 1][0] if k + 1 < len(spans) else None) for k, (start, _) in enumerate(spans)]
        cut = lambda line: [line[a:b].strip() for a, b in spans]
        headers = cut(lines[i])
        rows, row_list = {}, []
        i += 2
        while i < len(lines) and lines[i].strip():
            cells = cut(lines[i])
            assert all(cells[1:]) and len(lines[i].rstrip()) > spans[-1][0], (headers, lines[i])
            if not cells[0] and row_list:
                cells[0] = row_list[-1][headers[0]]
            rows[cells[0]] = dict(zip(headers, cells))
            row_list.append(rows[cells[0]])
            i += 1
        tables[title.split(" (")[0]] = {"headers": headers, "rows": rows, "row_list": row_list}
    return tables


def check_cell(cell, mean, std=None, complete=True):
    """A printed ``mean ± std`` cell (``*`` = incomplete) against recomputed numbers (2 decimals)."""
    match = re.fullmatch(r"(-?\d+\.\d\d)(?: ± (\d+\.\d\d))?(\*?)", cell)
    assert match, f"unexpected cell {cell!r}"
    assert abs(float(match.group(1)) - mean) <= 0.0051, (cell, mean)
    if std is None:
        assert match.group(2) is None, cell
    else:
        assert match.group(2) is not None and abs(float(match.group(2)) - std) <= 0.0051, (cell, std)
    assert (match.group(3) == "") == complete, (cell, complete)


def has_pair(opts, key, value):
    """``KEY VALUE`` appears in a yacs opts list."""
    return any(opts[i:i + 2] == [key, value] for i in range(0, len(opts) - 1, 2))


def trainer_labels(json_table):
    """Column label of each trainer's method (the trainer name, plus the config where configs differ)."""
    labels = {m["trainer"]: m["label"] for m in json_table["methods"]}
    assert all(label.split("/")[0] == trainer for trainer, label in labels.items()), labels
    return labels


def file_bytes(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Fake datasets, a tiny backbone config and the environment every script call shares."""
    root = tmp_path_factory.mktemp("scripts_e2e")
    data = root / "data"
    fakes = {
        "dtd": make_fake_dataset("DescribableTextures", data, NUM_CLASSES, COUNTS),
        "oxford_pets": make_fake_dataset("OxfordPets", data, NUM_CLASSES, COUNTS),
        "imagenet": make_fake_dataset("ImageNet", data, 3, COUNTS),
        "gzsl_cub": make_fake_dataset("GZSL_CUB", data, 5, (3, 1, 2)),
    }
    backbone = write_tiny_config(root / "backbones", "vit")
    size = tiny_config("vit")["vision_cfg"]["image_size"]
    opts = ["MODEL.BACKBONE.NAME", backbone, "MODEL.BACKBONE.PRETRAINED", "none", "INPUT.SIZE", f"({size},{size})",
            "OPTIM.MAX_EPOCH", "1", "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "4",
            "DATALOADER.TEST.BATCH_SIZE", "8", "USE_CUDA", "False"] + SHIP_SIZES
    assert not any(" " in o for o in opts), "OPTS values cannot hold spaces (scripts/common.sh splits on them)"
    env = dict(os.environ, PYTHON=sys.executable, DATA=str(data), SHOTS=str(SHOTS), OPTS=" ".join(opts),
               OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    for key in ("OUTPUT", "SEEDS", "LOADEP", "DRY_RUN", "TRAIN_PY", "CONFIGS", "TARGETS", "DG_TARGETS", "DATASETS",
                "TRAINER", "CFG", "TRAINERS"):
        env.pop(key, None)
    return types.SimpleNamespace(root=root, data=data, fakes=fakes, env=env, opts=opts)


def count_test_images(fake, classes):
    """Test images of the given class indices in a fake dataset."""
    return sum(1 for _, label, _ in fake.splits["test"] if label in classes)


@pytest.fixture(scope="module")
def base2new(world):
    """base2new.sh (repo configs, default CFG) for ZeroshotCLIP on two datasets, CoOp and SHIP_CoOp on dtd."""
    out = world.root / "out_base2new"
    env = dict(world.env, OUTPUT="out_base2new", SEEDS="1 2")  # relative to world.root, where the scripts run
    chains = [[("base2new.sh", ["dtd", "ZeroshotCLIP"], env), ("base2new.sh", ["oxford_pets", "ZeroshotCLIP"], env)],
              [("base2new.sh", ["dtd", "CoOp"], env), ("base2new.sh", ["dtd", "SHIP_CoOp"], env)]]
    procs = run_chains(chains, world.root)
    check_all_succeeded(procs, [(c[0], *c[1]) for chain in chains for c in chain])
    runs = {}  # (dataset, trainer, role, seed) -> run folder
    for dataset, trainers in (("dtd", BASE2NEW_CFG), ("oxford_pets", ["ZeroshotCLIP"])):
        for trainer in trainers:
            for role in ("train_base", "test_new"):
                for seed in (1, 2):
                    runs[(dataset, trainer, role, seed)] = (
                        out / "base2new" / role / dataset / f"shots_{SHOTS}" / trainer / BASE2NEW_CFG[trainer]
                        / f"seed{seed}")
    return types.SimpleNamespace(out=out, env=env, procs=procs, runs=runs)


@pytest.fixture(scope="module")
def others(world):
    """xd (SHIP_CoOp, ImageNet -> dtd), gzsl (SHIP_CoOp, GZSL_CUB), fewshot (CoOp, 1 and 2 shots) and ablation
    (two SHIP variants; DATASET and CFG given as YAML paths), one seed each, into one output root."""
    out = world.root / "out_other"
    configs = world.root / "configs"
    configs.mkdir(exist_ok=True)
    dataset_yaml = configs / "tiny_dtd.yaml"
    dataset_yaml.write_text('DATASET:\n  NAME: "DescribableTextures"\n')
    trainer_yaml = configs / "ship_tiny.yaml"
    trainer_yaml.write_text(TINY_TRAINER_YAML)
    env = dict(world.env, OUTPUT=str(out), SEEDS="1")
    variants = ["no_kl: TRAINER.SHIP.LAMBDA_KL 0.0", "TRAINER.SHIP.GENERATOR mlp"]
    calls = {
        "xd": ("xd.sh", ["SHIP_CoOp"], dict(env, TARGETS="dtd", DG_TARGETS="")),
        "gzsl": ("gzsl.sh", ["SHIP_CoOp"], dict(env, DATASETS="gzsl_cub")),
        "fewshot": ("fewshot.sh", ["dtd", "CoOp"], dict(env, SHOTS="1 2")),
        "ablation": ("ablation.sh", [str(dataset_yaml), *variants], dict(env, CFG=str(trainer_yaml))),
    }
    chains = [[calls["xd"], calls["gzsl"]], [calls["fewshot"], calls["ablation"]]]
    procs = run_chains(chains, world.root)
    by_name = {name: procs.get((c[0], *c[1])) for name, c in calls.items()}
    return types.SimpleNamespace(out=out, env=env, procs=by_name, calls=calls, dataset_yaml=dataset_yaml,
                                 trainer_yaml=trainer_yaml)


def check_ran(others, name):
    proc = others.procs[name]
    assert proc is not None, f"{name} did not run (an earlier call of its chain failed)"
    assert proc.returncode == 0, f"{name} failed: {describe(proc)}"
    return proc


# ------------------------------------------------------------------------------------ base2new
def test_base2new_runs_hold_real_evaluations_of_the_right_classes(base2new, world):
    base_classes, new_classes = {0, 1}, {2, 3}  # CoCoOp's rule: first half of the labels are base
    for (dataset, trainer, role, seed), run_dir in base2new.runs.items():
        doc, entry = final_test(run_dir)
        run = doc["run"]
        classes = base_classes if role == "train_base" else new_classes
        assert entry["classes"] == ("base" if role == "train_base" else "new")
        assert entry["metrics"]["total"] == count_test_images(world.fakes[dataset], classes)
        assert (run["trainer"], run["seed"], run["num_shots"], run["config"]) == (
            trainer, seed, SHOTS, BASE2NEW_CFG[trainer])
        assert run["opts"][-len(world.opts):] == world.opts  # OPTS reached train.py unchanged
        if trainer == "ZeroshotCLIP":
            assert run["eval_only"] and not run["model_dir"]
        elif role == "train_base":
            assert not run["eval_only"] and entry["epoch"] == 1
            assert (run_dir / "prompt_learner" / "model.pth.tar-1").is_file()
        else:  # the new-class evaluation loads the model trained on the base classes of the same seed
            assert run["eval_only"] and run["load_epoch"] == 1
            assert world.root / run["model_dir"] == base2new.runs[(dataset, trainer, "train_base", seed)]
    ship_log = (base2new.runs[("dtd", "SHIP_CoOp", "train_base", 1)] / "log.txt").read_text()
    assert "SHIP stage 1: fitting the generator" in ship_log


def test_base2new_table_equals_the_results_json_numbers(base2new, tmp_path):
    summary = json.loads(results_cli(base2new.out, "--format", "json", cwd=tmp_path).stdout)
    printed = results_cli(base2new.out, "--format", "table", cwd=tmp_path).stdout
    table = parse_tables(printed)["Base-to-new generalization"]
    (json_table,) = summary["tables"]
    assert json_table["protocol"] == "base2new" and json_table["seeds"] == [1, 2]

    # The three methods side by side, in this order, each with Base / New / H.
    labels = trainer_labels(json_table)
    expected_headers = ["Dataset"] + [f"{labels[t]} {m}" for t in ("ZeroshotCLIP", "CoOp", "SHIP_CoOp")
                                      for m in ("Base", "New", "H")]
    assert table["headers"] == expected_headers
    assert list(table["rows"]) == ["oxford_pets", "dtd", "Average"]
    keys = {m["trainer"]: m["key"] for m in json_table["methods"]}
    json_rows = {r["dataset"]: r["cells"] for r in json_table["rows"]}

    means = {}
    for dataset, trainers in (("dtd", BASE2NEW_CFG), ("oxford_pets", ["ZeroshotCLIP"])):
        for trainer in trainers:
            cell = json_rows[dataset][keys[trainer]]
            got = {}
            for role, metric in (("train_base", "Base"), ("test_new", "New")):
                accs = [final_test(base2new.runs[(dataset, trainer, role, s)])[1]["metrics"]["accuracy"]
                        for s in (1, 2)]
                mean, std = mean_std(accs)
                got[metric] = mean
                assert cell[metric]["mean"] == pytest.approx(mean, abs=1e-9)
                assert cell[metric]["std"] == pytest.approx(std, abs=1e-9)
                assert cell[metric]["values"] == {"1": accs[0], "2": accs[1]}
                check_cell(table["rows"][dataset][f"{labels[trainer]} {metric}"], mean, std)
            h = hm(got["Base"], got["New"])  # H of the seed-averaged Base and New
            assert cell["H"]["mean"] == pytest.approx(h, abs=1e-9)
            check_cell(table["rows"][dataset][f"{labels[trainer]} H"], h)
            means[(dataset, trainer)] = got
    for trainer in ("CoOp", "SHIP_CoOp"):  # no oxford_pets runs: nothing printed there
        for metric in ("Base", "New", "H"):
            assert table["rows"]["oxford_pets"][f"{labels[trainer]} {metric}"] == "-"

    # Average row: mean Base, mean New, and H of those two means (not the mean of the per-dataset H).
    zs = [means[(d, "ZeroshotCLIP")] for d in ("dtd", "oxford_pets")]
    base_avg = (zs[0]["Base"] + zs[1]["Base"]) / 2
    new_avg = (zs[0]["New"] + zs[1]["New"]) / 2
    avg = json_rows["Average"][keys["ZeroshotCLIP"]]
    assert avg["Base"]["mean"] == pytest.approx(base_avg, abs=1e-9)
    assert avg["New"]["mean"] == pytest.approx(new_avg, abs=1e-9)
    assert avg["H"]["mean"] == pytest.approx(hm(base_avg, new_avg), abs=1e-9)
    zs_label = labels["ZeroshotCLIP"]
    check_cell(table["rows"]["Average"][f"{zs_label} Base"], base_avg)
    check_cell(table["rows"]["Average"][f"{zs_label} New"], new_avg)
    check_cell(table["rows"]["Average"][f"{zs_label} H"], hm(base_avg, new_avg))
    # CoOp and SHIP_CoOp ran on dtd only: their average covers one dataset and is marked incomplete.
    for trainer in ("CoOp", "SHIP_CoOp"):
        got = means[("dtd", trainer)]
        label = labels[trainer]
        check_cell(table["rows"]["Average"][f"{label} Base"], got["Base"], complete=False)
        check_cell(table["rows"]["Average"][f"{label} H"], hm(got["Base"], got["New"]), complete=False)
        assert f"base2new average for {label} covers 1 of 2 datasets (missing: oxford_pets)" in summary["missing"]
    assert not [m for m in summary["missing"] if "seed" in m]  # every seed of every run finished


def test_base2new_plot_is_a_png(base2new, tmp_path):
    out = tmp_path / "plots" / "base2new.png"
    proc = results_cli(base2new.out, "--protocol", "base2new", "--plot", out, cwd=tmp_path)
    assert f"Wrote plot to {out}" in proc.stderr
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


def test_missing_new_run_is_reported(base2new, tmp_path):
    copy = tmp_path / "output"
    shutil.copytree(base2new.out, copy)
    removed = f"base2new/test_new/dtd/shots_{SHOTS}/CoOp/{BASE2NEW_CFG['CoOp']}/seed2"
    shutil.rmtree(copy / removed)
    summary = json.loads(results_cli(copy, "--format", "json", cwd=tmp_path).stdout)
    labels = trainer_labels(summary["tables"][0])
    line = f"base2new dtd {labels['CoOp']}: seed 2 has a base run but no finished new run (expected {removed})"
    assert [m for m in summary["missing"] if "seed" in m] == [line]
    proc = results_cli(copy, "--format", "table", cwd=tmp_path)
    assert f"- {line}" in proc.stdout.split("Missing:\n", 1)[1].splitlines()
    # The CoOp New cell now holds seed 1 only and is marked incomplete.
    row = parse_tables(proc.stdout)["Base-to-new generalization"]["rows"]["dtd"]
    seed1 = final_test(base2new.runs[("dtd", "CoOp", "test_new", 1)])[1]["metrics"]["accuracy"]
    check_cell(row[f"{labels['CoOp']} New"], seed1, complete=False)
    assert not row[f"{labels['SHIP_CoOp']} New"].endswith("*")


def test_rerun_skips_finished_runs_and_keeps_the_results(base2new, world):
    before = file_bytes(base2new.out)
    proc = None
    for trainer in ("ZeroshotCLIP", "CoOp", "SHIP_CoOp"):
        proc = run_script("base2new.sh", ["dtd", trainer], base2new.env, world.root)
        assert proc.returncode == 0, describe(proc)
        assert proc.stdout.count("Skip: ") == 4, proc.stdout  # 2 seeds x (base, new)
        for seed in (1, 2):
            skipped = base2new.runs[("dtd", trainer, "train_base", seed)].relative_to(world.root)
            assert f"Skip: {skipped} is finished" in proc.stdout
        assert "train.py" not in proc.stdout and "Resume:" not in proc.stdout
    assert file_bytes(base2new.out) == before  # no results.json, log or checkpoint touched or added
    # The script ends with the table: the three methods side by side.
    header = parse_tables(proc.stdout)["Base-to-new generalization"]["headers"]
    assert [h.split("/")[0].split(" ")[0] for h in header] == ["Dataset"] + ["ZeroshotCLIP"] * 3 + ["CoOp"] * 3 + \
        ["SHIP_CoOp"] * 3
    assert [h.rsplit(" ", 1)[1] for h in header[1:]] == ["Base", "New", "H"] * 3


def test_local_launcher_with_two_workers_writes_the_serial_results(base2new, world, tmp_path):
    """The same CoOp runs, two at a time (train then evaluate each seed), give byte-identical results.json."""
    folder = world.root / "local_launcher"
    folder.mkdir()
    env = dict(base2new.env, LAUNCHER="local", WORKERS="2")
    proc = run_script("base2new.sh", ["dtd", "CoOp"], env, folder)
    assert proc.returncode == 0, describe(proc)
    for role in ("train_base", "test_new"):
        for seed in (1, 2):
            serial = base2new.runs[("dtd", "CoOp", role, seed)]
            local = folder / serial.relative_to(world.root)
            assert (local / "results.json").read_bytes() == (serial / "results.json").read_bytes(), local
            assert (folder / "out_base2new" / ".sweep" / "logs" / serial.relative_to(base2new.out)).with_suffix(
                ".log").is_file()
    assert sum(" done in " in line for line in proc.stdout.splitlines()) == 4
    assert "Launcher local: 2 run(s) at a time" in proc.stdout
    # The table it ends with shows the CoOp cells of the serial runs.
    local_row = parse_tables(proc.stdout)["Base-to-new generalization"]["rows"]["dtd"]
    serial_table = parse_tables(results_cli(base2new.out, "--format", "table", cwd=tmp_path).stdout)
    serial_row = serial_table["Base-to-new generalization"]["rows"]["dtd"]
    coop = [cell for header, cell in serial_row.items() if header.split("/")[0].split(" ")[0] == "CoOp"]
    assert [cell for header, cell in local_row.items() if header != "Dataset"] == coop and len(coop) == 3


# ------------------------------------------------------------------------------ other protocols
def test_xd_trains_on_imagenet_with_target_classes_and_tests_on_the_target(others, world):
    proc = check_ran(others, "xd")
    sub = f"shots_{SHOTS}/SHIP_CoOp/vit_b16_ep50_ctxv1"
    train_dir = others.out / "xd" / "train" / "imagenet" / sub / "to_dtd" / "seed1"
    test_dir = others.out / "xd" / "test" / "dtd" / sub / "seed1"
    train_doc, source = final_test(train_dir)
    test_doc, target = final_test(test_dir)
    for doc in (train_doc, test_doc):
        assert doc["run"]["label_only"] == "all-target"
        assert has_pair(doc["run"]["opts"], "TRAINER.SHIP.TARGET_DATASET", "dtd")
    assert source["metrics"]["total"] == count_test_images(world.fakes["imagenet"], {0, 1, 2})
    assert target["metrics"]["total"] == count_test_images(world.fakes["dtd"], set(range(NUM_CLASSES)))
    assert test_doc["run"]["eval_only"] and Path(test_doc["run"]["model_dir"]) == train_dir
    assert f"SHIP: {NUM_CLASSES} label-only classes (the classes of target dataset DescribableTextures)" in \
        (train_dir / "log.txt").read_text()
    table = parse_tables(proc.stdout)["Cross-dataset transfer and domain generalization"]
    assert table["headers"] == ["Target", "SHIP_CoOp Acc"]
    assert list(table["rows"]) == ["imagenet (source)", "dtd"]
    check_cell(table["rows"]["imagenet (source)"]["SHIP_CoOp Acc"], source["metrics"]["accuracy"])
    check_cell(table["rows"]["dtd"]["SHIP_CoOp Acc"], target["metrics"]["accuracy"])


def test_gzsl_table_is_u_s_h_of_the_joint_evaluation(others, world):
    proc = check_ran(others, "gzsl")
    fake = world.fakes["gzsl_cub"]
    sub = f"gzsl_cub/shots_{SHOTS}/SHIP_CoOp/vit_b16_ctxv1/seed1"
    train_doc, seen_only = final_test(others.out / "gzsl" / "train_seen" / sub)
    assert seen_only["classes"] == "base" and seen_only["metrics"]["total"] == len(fake.splits["test_seen"])
    doc, joint = final_test(others.out / "gzsl" / "test_joint" / sub)
    metrics = joint["metrics"]
    assert joint["classes"] == "joint"
    assert metrics["total"] == len(fake.splits["test_seen"]) + len(fake.splits["test_unseen"])
    assert metrics["harmonic"] == pytest.approx(hm(metrics["seen"], metrics["unseen"]), abs=1e-9)
    row = parse_tables(proc.stdout)["Generalized zero-shot learning"]["rows"]["gzsl_cub"]
    check_cell(row["SHIP_CoOp U"], metrics["unseen"])
    check_cell(row["SHIP_CoOp S"], metrics["seen"])
    check_cell(row["SHIP_CoOp H"], hm(metrics["unseen"], metrics["seen"]))


def test_fewshot_table_has_one_column_per_shot_count(others, world):
    proc = check_ran(others, "fewshot")
    table = parse_tables(proc.stdout)["Few-shot accuracy"]
    assert table["headers"] == ["Dataset", "CoOp 1-shot", "CoOp 2-shot"]
    for shots in (1, 2):
        run_dir = others.out / "fewshot" / "dtd" / f"shots_{shots}" / "CoOp" / "vit_b16" / "seed1"
        doc, entry = final_test(run_dir)
        assert doc["run"]["num_shots"] == shots and entry["classes"] == "all"
        assert entry["metrics"]["total"] == count_test_images(world.fakes["dtd"], set(range(NUM_CLASSES)))
        train_x = re.search(r"# train_x\s+(\d+)", (run_dir / "log.txt").read_text())
        assert train_x and int(train_x.group(1)) == shots * NUM_CLASSES
        check_cell(table["rows"]["dtd"][f"CoOp {shots}-shot"], entry["metrics"]["accuracy"])


def test_ablation_table_has_one_row_per_variant(others, world):
    proc = check_ran(others, "ablation")
    table = parse_tables(proc.stdout)["Ablations under base-to-new"]
    variants = {"no_kl": ["TRAINER.SHIP.LAMBDA_KL", "0.0"], "GENERATOR=mlp": ["TRAINER.SHIP.GENERATOR", "mlp"]}
    assert table["headers"] == ["Dataset", "Variant", "Base", "New", "H", "ΔBase", "ΔNew", "ΔH"]
    rows = {row["Variant"]: row for row in table["row_list"]}
    assert sorted(rows) == sorted(variants)
    assert {row["Dataset"] for row in table["row_list"]} == {"tiny_dtd"}  # the dataset YAML's stem
    for variant, override in variants.items():
        accs = {}
        for role in ("train_base", "test_new"):
            run_dir = (others.out / "ablation" / variant / "base2new" / role / "tiny_dtd" / f"shots_{SHOTS}"
                       / "SHIP_CoOp" / "ship_tiny" / "seed1")
            doc, entry = final_test(run_dir)
            opts = doc["run"]["opts"]
            assert doc["run"]["config"] == "ship_tiny"
            assert has_pair(opts, *override), (variant, opts)
            assert entry["metrics"]["total"] == count_test_images(world.fakes["dtd"], {0, 1} if role == "train_base"
                                                            else {2, 3})
            accs[role] = entry["metrics"]["accuracy"]
        row = rows[variant]
        check_cell(row["Base"], accs["train_base"])
        check_cell(row["New"], accs["test_new"])
        check_cell(row["H"], hm(accs["train_base"], accs["test_new"]))
        # No variant is the full method (named "full" or without overrides): no differences to show.
        assert [row[f"Δ{m}"] for m in ("Base", "New", "H")] == ["-"] * 3
    log = (others.out / "ablation" / "GENERATOR=mlp" / "base2new" / "train_base" / "tiny_dtd" / f"shots_{SHOTS}"
           / "SHIP_CoOp" / "ship_tiny" / "seed1" / "log.txt").read_text()
    assert "SHIP generator (mlp)" in log


def test_results_command_prints_every_protocol_and_plots_them(others, tmp_path):
    for name in others.procs:
        check_ran(others, name)
    proc = results_cli(others.out, cwd=tmp_path)
    titles = [line for line in proc.stdout.splitlines() if line.startswith("== ")]
    assert [t.split(" (")[0][3:] for t in titles] == [
        "Ablations under base-to-new", "Cross-dataset transfer and domain generalization",
        "Generalized zero-shot learning", "Few-shot accuracy"]
    assert "Missing:" not in proc.stdout
    out = tmp_path / "all.png"
    results_cli(others.out, "--plot", out, cwd=tmp_path)
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


def test_every_trainer_has_a_default_config_for_every_protocol(tmp_path):
    """Without CFG, each script picks a config that exists (SHIP trainers take their base method's)."""
    env = dict(os.environ, DRY_RUN="1", DATA=str(tmp_path / "data"), OUTPUT=str(tmp_path / "out"), SEEDS="1",
               PYTHON=sys.executable, TARGETS="dtd", DG_TARGETS="", DATASETS="gzsl_cub", SHOTS="1")
    for key in ("OPTS", "LOADEP", "TRAIN_PY", "CONFIGS", "TRAINER", "CFG", "TRAINERS"):
        env.pop(key, None)
    trainers = sorted(p.name for p in (REPO / "configs" / "trainers").iterdir() if p.is_dir())
    assert {"ZeroshotCLIP", "CoOp", "SHIP_CoOp", "CoCoOp", "SHIP_CoCoOp"} <= set(trainers)
    calls = [(script, [*lead, trainer]) for trainer in trainers
             for script, lead in (("base2new.sh", ["dtd"]), ("xd.sh", []), ("gzsl.sh", []), ("fewshot.sh", ["dtd"]))]
    calls.append(("ablation.sh", ["dtd"]))
    for script, args in calls:
        proc = run_script(script, args, env, tmp_path)
        assert proc.returncode == 0, f"{script} {' '.join(args)}: {describe(proc)}"
        used = set(re.findall(r"--config-file (\S+\.yaml)", proc.stdout))
        assert used and all(Path(p).is_file() for p in used), (script, args, used)

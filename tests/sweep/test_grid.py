"""The grid of each protocol script: which train.py calls, in which order, and what each one needs first."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipclip.sweep import SweepError, build_grid
from shipclip.sweep.load_epoch import load_epoch_args

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"


def grid_of(protocol, args, tmp_path, **env):
    base = {"DATA": "/data", "OUTPUT": "out", "SHOTS": "2", "SEEDS": "1 2", "PYTHON": "py", "OPTS": "A.B 1"}
    base.update(env)
    base = {k: v for k, v in base.items() if v is not None}
    return build_grid(protocol, args, base, str(REPO), echo=lambda line: None)


def names(grid):
    return [run.name for run in grid.runs]


def deps(grid):
    return {run.name: run.depends_on for run in grid.runs}


def opt_pairs(run):
    tail = list(run.tail)
    return list(zip(tail[0::2], tail[1::2]))


def flag(run, name):
    argv = list(run.argv)
    return argv[argv.index(name) + 1] if name in argv else None


# ------------------------------------------------------------------------------------------ base2new
def test_base2new_trains_on_base_then_evaluates_that_model_on_new_classes(tmp_path):
    grid = grid_of("base2new", ["dtd", "CoOp"], tmp_path)
    sub = "dtd/shots_2/CoOp/vit_b16_ctxv1"
    assert names(grid) == [f"base2new/train_base/{sub}/seed1", f"base2new/test_new/{sub}/seed1",
                           f"base2new/train_base/{sub}/seed2", f"base2new/test_new/{sub}/seed2"]
    assert deps(grid) == {f"base2new/train_base/{sub}/seed1": None,
                          f"base2new/test_new/{sub}/seed1": f"base2new/train_base/{sub}/seed1",
                          f"base2new/train_base/{sub}/seed2": None,
                          f"base2new/test_new/{sub}/seed2": f"base2new/train_base/{sub}/seed2"}
    train, test = grid.runs[0], grid.runs[1]
    assert train.output_dir == f"out/{train.name}" and "--eval-only" not in train.argv
    assert list(train.argv[:2]) == ["py", str(REPO / "train.py")]
    assert flag(train, "--root") == "/data" and flag(train, "--seed") == "1" and flag(train, "--trainer") == "CoOp"
    assert flag(train, "--config-file") == str(CONFIGS / "trainers" / "CoOp" / "vit_b16_ctxv1.yaml")
    assert opt_pairs(train) == [("DATASET.NUM_SHOTS", "2"), ("DATASET.SUBSAMPLE_CLASSES", "base"), ("A.B", "1")]
    assert "--eval-only" in test.argv and flag(test, "--model-dir") == train.output_dir
    assert test.model_dir == train.output_dir
    assert opt_pairs(test) == [("DATASET.NUM_SHOTS", "2"), ("DATASET.SUBSAMPLE_CLASSES", "new"), ("A.B", "1")]
    assert [[r.name for r in chain] for chain in grid.chains()] == [names(grid)[:2], names(grid)[2:]]
    assert grid.table_command()[2:] == ["out", "--protocol", "base2new"]


def test_zero_shot_base2new_has_two_independent_evaluations(tmp_path):
    grid = grid_of("base2new", ["oxford_pets", "ZeroshotCLIP"], tmp_path, SEEDS="3")
    assert [r.name.split("/")[1] for r in grid.runs] == ["train_base", "test_new"]
    assert all("--eval-only" in r.argv and "--model-dir" not in r.argv and r.depends_on is None for r in grid.runs)
    assert len(grid.chains()) == 2  # nothing to wait for: they may run at the same time


def test_builtin_default_runs_three_trainers_on_toyworld_with_one_seed(tmp_path):
    grid = grid_of("base2new", [], tmp_path, SEEDS=None, DRY_RUN="1", DATA=None)
    trainers = [flag(r, "--trainer") for r in grid.runs]
    assert trainers == ["ZeroshotCLIP"] * 2 + ["CoOp"] * 2 + ["SHIP_CoOp"] * 2
    assert {flag(r, "--seed") for r in grid.runs} == {"1"}
    assert all(flag(r, "--config-file").endswith("/toyworld.yaml") for r in grid.runs)
    assert all(flag(r, "--root") == "<TOYWORLD_ROOT>" for r in grid.runs)  # the preparation only printed
    for run in grid.runs:
        assert ("MODEL.BACKBONE.NAME", "<TOYWORLD_BACKBONE>") in opt_pairs(run)
    coop = [r for r in grid.runs if flag(r, "--trainer") == "CoOp"]
    assert coop[1].depends_on == coop[0].name
    picked = grid_of("base2new", [], tmp_path, SEEDS="1 2", DRY_RUN="1", TRAINERS="TipAdapter", CFG="vit_b16")
    assert [flag(r, "--trainer") for r in picked.runs] == ["TipAdapter"] * 4
    assert all(flag(r, "--config-file").endswith("TipAdapter/vit_b16.yaml") for r in picked.runs)
    assert all(flag(r, "--root") == "<TOYWORLD_ROOT>" for r in picked.runs)


# ------------------------------------------------------------------------------------------ xd
def test_xd_evaluates_every_target_with_the_one_source_model_of_its_seed(tmp_path):
    grid = grid_of("xd", ["CoOp"], tmp_path, TARGETS="dtd oxford_pets", DG_TARGETS="imagenetv2", SEEDS="1")
    sub = "shots_2/CoOp/vit_b16_ep50_ctxv1/seed1"
    source = f"xd/train/imagenet/{sub}"
    assert names(grid) == [source, f"xd/test/dtd/{sub}", f"xd/test/oxford_pets/{sub}", f"xd/test/imagenetv2/{sub}"]
    assert [r.depends_on for r in grid.runs] == [None, source, source, source]
    assert opt_pairs(grid.runs[0]) == [("DATASET.NUM_SHOTS", "2"), ("A.B", "1")]
    assert opt_pairs(grid.runs[1]) == [("A.B", "1")]  # targets load no shots and no class subset
    assert len(grid.chains()) == 1


def test_xd_trains_a_ship_model_per_target(tmp_path):
    grid = grid_of("xd", ["SHIP_CoOp"], tmp_path, TARGETS="dtd", DG_TARGETS="", SEEDS="1 2")
    sub = "shots_2/SHIP_CoOp/vit_b16_ep50_ctxv1"
    assert names(grid) == [f"xd/train/imagenet/{sub}/to_dtd/seed1", f"xd/test/dtd/{sub}/seed1",
                           f"xd/train/imagenet/{sub}/to_dtd/seed2", f"xd/test/dtd/{sub}/seed2"]
    assert grid.runs[1].depends_on == grid.runs[0].name and grid.runs[3].depends_on == grid.runs[2].name
    label_only = [("TRAINER.SHIP.LABEL_ONLY", "all-target"), ("TRAINER.SHIP.TARGET_DATASET", "dtd")]
    assert opt_pairs(grid.runs[0]) == [("DATASET.NUM_SHOTS", "2"), *label_only, ("A.B", "1")]
    assert opt_pairs(grid.runs[1]) == [*label_only, ("A.B", "1")]


def test_xd_default_targets_and_a_target_listed_twice(tmp_path):
    grid = grid_of("xd", ["ZeroshotCLIP"], tmp_path, SEEDS="1")
    targets = [r.name.split("/")[2] for r in grid.runs[1:]]
    assert targets == ["caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101", "fgvc_aircraft",
                       "sun397", "dtd", "eurosat", "ucf101", "imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r"]
    assert all(r.depends_on is None for r in grid.runs)
    twice = grid_of("xd", ["CoOp"], tmp_path, TARGETS="dtd dtd", DG_TARGETS="", SEEDS="1")
    assert len(twice.runs) == 2  # the source model and one dtd evaluation


# ------------------------------------------------------------------------------------------ gzsl
def test_gzsl_trains_on_seen_classes_and_evaluates_in_the_joint_space(tmp_path):
    grid = grid_of("gzsl", ["SHIP_CoOp"], tmp_path, DATASETS="gzsl_cub gzsl_sun", SEEDS="1")
    assert [r.name.split("/")[1:3] for r in grid.runs] == [
        ["train_seen", "gzsl_cub"], ["test_joint", "gzsl_cub"], ["train_seen", "gzsl_sun"], ["test_joint", "gzsl_sun"]]
    assert grid.runs[1].depends_on == grid.runs[0].name and grid.runs[3].depends_on == grid.runs[2].name
    assert opt_pairs(grid.runs[1]) == [("DATASET.NUM_SHOTS", "2"), ("DATASET.SUBSAMPLE_CLASSES", "all"),
                                       ("TEST.JOINT", "True"), ("A.B", "1")]


# ------------------------------------------------------------------------------------------ fewshot
def test_fewshot_runs_are_independent_shot_count_first(tmp_path):
    grid = grid_of("fewshot", ["dtd", "CoOp"], tmp_path, SHOTS="1 4")
    assert names(grid) == [f"fewshot/dtd/shots_{k}/CoOp/vit_b16/seed{s}" for k in (1, 4) for s in (1, 2)]
    assert all(r.depends_on is None for r in grid.runs) and len(grid.chains()) == 4
    assert opt_pairs(grid.runs[2]) == [("DATASET.NUM_SHOTS", "4"), ("A.B", "1")]
    default = grid_of("fewshot", ["dtd", "CoOp"], tmp_path, SHOTS=None, SEEDS="1")
    assert [r.name.split("/")[2] for r in default.runs] == ["shots_1", "shots_2", "shots_4", "shots_8", "shots_16"]
    zeroshot = grid_of("fewshot", ["dtd", "ZeroshotCLIP"], tmp_path, SHOTS="1 4")
    assert names(zeroshot) == [f"fewshot/dtd/shots_0/ZeroshotCLIP/vit_b16/seed{s}" for s in (1, 2)]
    assert all(opt_pairs(r) == [("A.B", "1")] for r in zeroshot.runs)


# ------------------------------------------------------------------------------------------ ablation
def test_ablation_runs_base2new_once_per_variant(tmp_path):
    grid = grid_of("ablation", ["dtd", "no_kl: TRAINER.SHIP.LAMBDA_KL 0.0", "TRAINER.SHIP.GENERATOR mlp"], tmp_path,
                   SEEDS="1")
    sub = "dtd/shots_2/SHIP_CoOp/vit_b16_ctxv1/seed1"
    assert names(grid) == [f"ablation/{v}/base2new/{role}/{sub}" for v in ("no_kl", "GENERATOR=mlp")
                           for role in ("train_base", "test_new")]
    assert grid.runs[1].depends_on == grid.runs[0].name and grid.runs[3].depends_on == grid.runs[2].name
    assert opt_pairs(grid.runs[1]) == [("DATASET.NUM_SHOTS", "2"), ("DATASET.SUBSAMPLE_CLASSES", "new"),
                                       ("TRAINER.SHIP.LAMBDA_KL", "0.0"), ("A.B", "1")]
    assert grid.table_command()[2:] == ["out/ablation", "--protocol", "ablation"]
    builtin = grid_of("ablation", ["dtd"], tmp_path, SEEDS="1")
    assert [r.name.split("/")[1] for r in builtin.runs[::2]] == [
        "full", "no_kl", "global_ctx_only", "bias_only", "mlp_generator"]


def test_ablation_variants_from_a_file(tmp_path):
    path = tmp_path / "variants.txt"
    path.write_text("# comment\n\nfull:\n  kl1: TRAINER.SHIP.LAMBDA_KL 1.0\n")
    grid = grid_of("ablation", ["dtd", str(path)], tmp_path, SEEDS="1", TRAINER="SHIP_CoCoOp")
    assert [r.name.split("/")[1] for r in grid.runs[::2]] == ["full", "kl1"]
    assert all(r.name.endswith("/SHIP_CoCoOp/vit_b16_c4_ep10_batch1_ctxv1/seed1") for r in grid.runs)


@pytest.mark.parametrize("args, message", [
    (["dtd", "TRAINER.SHIP.LAMBDA_KL"], "odd number of override tokens"),
    (["dtd", "a: X.Y 1", "a: X.Y 2"], "two variants are named 'a'"),
    (["dtd", "missing/variants.txt"], "variant file missing/variants.txt not found"),
])
def test_bad_ablation_variants_are_refused(tmp_path, args, message):
    with pytest.raises(SweepError, match=message):
        grid_of("ablation", args, tmp_path)


def test_empty_variant_file_is_refused(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("# nothing\n")
    with pytest.raises(SweepError, match="holds no variants"):
        grid_of("ablation", ["dtd", str(path)], tmp_path)


# ------------------------------------------------------------------------------------------ errors
def test_errors_name_what_to_fix(tmp_path):
    with pytest.raises(SweepError, match="DATA is not set"):
        grid_of("gzsl", ["CoOp"], tmp_path, DATA=None)
    with pytest.raises(SweepError, match=r"trainer config .*nope\.yaml not found \(configs for CoOp: .*vit_b16_ctxv1"):
        grid_of("base2new", ["dtd", "CoOp", "nope"], tmp_path)
    with pytest.raises(SweepError, match=r"dataset config .*mnist\.yaml not found \(available: .*oxford_pets"):
        grid_of("fewshot", ["mnist", "CoOp"], tmp_path)
    with pytest.raises(SweepError, match="SHOTS must be one number for base2new"):
        grid_of("base2new", ["dtd", "CoOp"], tmp_path, SHOTS="1 2")
    with pytest.raises(SweepError, match="unknown protocol"):
        grid_of("linear_probe", [], tmp_path)


# ------------------------------------------------------------------------------------------ load epoch
def write_pointer(model_dir, epoch, best=False):
    folder = Path(model_dir) / "prompt_learner"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "checkpoint").write_text(f"model.pth.tar-{epoch}\n")
    if best:
        (folder / "model-best.pth.tar").write_bytes(b"")


def test_eval_step_reads_its_load_epoch_when_it_starts(tmp_path):
    grid = grid_of("base2new", ["dtd", "CoOp"], tmp_path, OUTPUT=str(tmp_path / "out"), SEEDS="1")
    test = grid.runs[1]
    assert "--load-epoch" not in test.command()  # nothing trained yet (what DRY_RUN prints)
    write_pointer(test.model_dir, 7)
    cmd = test.command()
    assert cmd[cmd.index("--load-epoch") + 1] == "7"
    assert cmd.index("--load-epoch") > cmd.index("--model-dir") and cmd[-2:] == ["A.B", "1"]
    pinned = grid_of("base2new", ["dtd", "CoOp"], tmp_path, OUTPUT=str(tmp_path / "out"), SEEDS="1", LOADEP="2")
    cmd = pinned.runs[1].command()
    assert cmd[cmd.index("--load-epoch") + 1] == "2"


def test_best_model_is_loaded_without_an_epoch(tmp_path):
    write_pointer(tmp_path / "model", 5, best=True)
    assert load_epoch_args(str(tmp_path / "model")) == []
    assert load_epoch_args(str(tmp_path / "model"), "9") == ["--load-epoch", "9"]
    assert load_epoch_args(str(tmp_path / "nothing")) == []


# ------------------------------------------------------------------------------------------ scripts
@pytest.mark.parametrize("script, args, env", [
    ("base2new.sh", ["dtd", "CoOp"], {}),
    ("base2new.sh", [], {"TRAINERS": "CoOp"}),
    ("xd.sh", ["SHIP_CoOp"], {"TARGETS": "dtd eurosat", "DG_TARGETS": ""}),
    ("gzsl.sh", ["CoOp"], {"DATASETS": "gzsl_cub"}),
    ("fewshot.sh", ["dtd", "CoOp"], {"SHOTS": "1 2"}),
    ("ablation.sh", ["dtd", "no_kl: TRAINER.SHIP.LAMBDA_KL 0.0"], {"TRAINER": "SHIP_CoOp"}),
])
def test_scripts_hand_their_arguments_and_environment_to_the_grid(tmp_path, monkeypatch, script, args, env):
    plan = tmp_path / "plan.json"
    full = dict(os.environ, DATA="/data", OUTPUT="out", SEEDS="1 2", SHOTS="2", OPTS="A.B 1",
                PYTHON=sys.executable, DRY_RUN="1", SWEEP_PLAN=str(plan))
    full.update(env)
    for key in ("LAUNCHER", "LOADEP", "TRAIN_PY", "CONFIGS", "CFG"):
        full.pop(key, None)
    proc = subprocess.run(["bash", str(REPO / "scripts" / script), *args], env=full, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(plan.read_text())
    monkeypatch.chdir(tmp_path)  # relative paths are relative to the calling folder
    expected = build_grid(script[:-3], args, full, str(REPO), echo=lambda line: None)
    assert doc["runs"] == json.loads(json.dumps([run.to_dict() for run in expected.runs]))
    printed = [line[2:] for line in proc.stdout.splitlines() if line.startswith("+ ") and "train.py" in line]
    assert len(printed) == len(expected.runs)  # DRY_RUN prints every step, nothing ran
    assert not (tmp_path / "out").exists()

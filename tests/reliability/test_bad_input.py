"""Bad input, clear errors: one focused test per case, each asserting that the message names the
culprit (file, key or value) AND says what to do. Every case goes through ``train.py``'s ``main``.

The messages are listed in docs/RELIABILITY.md.
"""
import json
import os
import shutil

import pytest
import torch

import shipclip_testing.fake_datasets as fake
from shipclip_testing.reliability import RUN_OPTS, SHIP_OPTS, main, train_argv


def message(info):
    """The exception's message (KeyError wraps it in quotes)."""
    value = info.value
    return value.args[0] if isinstance(value, KeyError) and value.args else str(value)


def assert_says(info, *parts):
    text = message(info)
    print(f"\n[{type(info.value).__name__}] {text}")  # pytest -s shows the messages (docs/RELIABILITY.md)
    for part in parts:
        assert part in text, f"{part!r} not in: {text}"
    return text


@pytest.fixture
def data_copy(tmp_path):
    """A private copy of the colour dataset (the session one must stay intact)."""
    root = tmp_path / "data"
    folder = fake.write_color_dataset(root)
    return root, folder


def _split(folder):
    path = os.path.join(folder, fake.COLOR_SPLIT_FILE)
    with open(path) as f:
        return path, json.load(f)


def _write_split(path, split):
    with open(path, "w") as f:
        json.dump(split, f)


@pytest.fixture(scope="module")
def coop_run(color_root, tmp_path_factory):
    """A finished one-epoch CoOp run (generic context, all six classes)."""
    out = tmp_path_factory.mktemp("coop_run")
    main(train_argv("CoOp", color_root, out, RUN_OPTS + ["OPTIM.MAX_EPOCH", "1"]))
    return out


# ------------------------------------------------------------------------------------------- data
def test_missing_data_root(tmp_path, restore_stdout):
    argv = train_argv("ZeroshotCLIP", "", tmp_path / "out", flags=["--eval-only"], backbone_dir=tmp_path)
    from shipclip.datasets.layout import DatasetLayoutError

    with pytest.raises(DatasetLayoutError) as info:
        main(argv)
    assert_says(info, "DATASET.ROOT is empty", "Pass --root /path/to/data")


def test_wrong_data_root(tmp_path, restore_stdout):
    from shipclip.datasets.layout import DatasetLayoutError

    wrong = tmp_path / "not_the_data"
    with pytest.raises(DatasetLayoutError) as info:
        main(train_argv("ZeroshotCLIP", wrong, tmp_path / "out", flags=["--eval-only"], backbone_dir=tmp_path))
    assert_says(info, f'expected the folder "{wrong / fake.COLOR_FOLDER}"', f"DATASET.ROOT={wrong}",
                "See DATASETS.md")


def test_missing_split_file(data_copy, tmp_path, restore_stdout):
    from shipclip.datasets.layout import DatasetLayoutError

    root, folder = data_copy
    os.remove(os.path.join(folder, fake.COLOR_SPLIT_FILE))
    with pytest.raises(DatasetLayoutError) as info:
        main(train_argv("ZeroshotCLIP", root, tmp_path / "out", flags=["--eval-only"]))
    assert_says(info, f'split file not found: expected "{os.path.join(folder, fake.COLOR_SPLIT_FILE)}"',
                "See DATASETS.md")


@pytest.mark.parametrize("damage", ["truncated", "not_an_image"])
def test_corrupt_or_truncated_image(damage, data_copy, tmp_path, restore_stdout):
    root, folder = data_copy
    path, split = _split(folder)
    image = os.path.join(folder, "images", split["test"][0][0])
    data = open(image, "rb").read()
    with open(image, "wb") as f:
        f.write(data[: len(data) // 2] if damage == "truncated" else b"this is not a PNG file")
    with pytest.raises(OSError) as info:
        main(train_argv("ZeroshotCLIP", root, tmp_path / "out", flags=["--eval-only"]))
    assert_says(info, f'Cannot read image "{image}"', "corrupt or truncated",
                "re-extract the dataset archive or delete the file")


def _rename_label(folder, label, name):
    """Give every row of ``label`` the class name ``name`` in the split file; returns its path."""
    path, split = _split(folder)
    for part in split.values():
        for row in part:
            if row[1] == label:
                row[2] = name
    _write_split(path, split)
    return path


def test_empty_class_name(data_copy, tmp_path, restore_stdout):
    root, folder = data_copy
    path = _rename_label(folder, 4, "  ")
    with pytest.raises(ValueError) as info:
        main(train_argv("ZeroshotCLIP", root, tmp_path / "out", flags=["--eval-only"]))
    assert_says(info, "Label 4 has an empty class name", f'in "{path}"', "Give every class a name")


def test_duplicated_class_names(data_copy, tmp_path, restore_stdout):
    root, folder = data_copy
    path = _rename_label(folder, 5, "Red")  # same prompt as label 0 ("red"): CLIP's tokenizer lower-cases
    with pytest.raises(ValueError) as info:
        main(train_argv("ZeroshotCLIP", root, tmp_path / "out", flags=["--eval-only"]))
    assert_says(info, 'labels 0, 5 are all "red"', f'in "{path}"', "give each class a distinct name")


def test_shots_larger_than_available_images(data_copy, tmp_path, restore_stdout, capsys):
    root, folder = data_copy
    path, split = _split(folder)
    blue = fake.COLOR_CLASSES.index("blue")
    rows = [row for row in split["train"] if row[1] == blue]
    split["train"] = [row for row in split["train"] if row[1] != blue] + rows[:3]  # blue: 3 training images
    _write_split(path, split)
    trainer = main(train_argv("CoOp", root, tmp_path / "out", RUN_OPTS + ["DATASET.NUM_SHOTS", "5"],
                              flags=["--no-train"]))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Few-shot ")]
    print("\n[printed] " + "\n[printed] ".join(lines))
    per_class = fake.COLOR_COUNTS["val"]  # 3 val images per class; min(5, 4) = 4 are asked for
    listed = ", ".join(f"{c} ({per_class})" for c in fake.COLOR_CLASSES)
    assert lines == [
        "Few-shot train: 1 of 6 classes have fewer than 5 images; all their images are used: blue (3)",
        f"Few-shot val: 6 of 6 classes have fewer than 4 images; all their images are used: {listed}",
    ]
    train = [d.classname for d in trainer.dm.dataset.train_x]
    assert {c: train.count(c) for c in fake.COLOR_CLASSES} == {c: 3 if c == "blue" else 5 for c in fake.COLOR_CLASSES}
    assert len(trainer.dm.dataset.val) == per_class * len(fake.COLOR_CLASSES)


# ----------------------------------------------------------------------------------------- config
BAD_CONFIG = {  # key, bad value, error raised, what the message says (source filled in per case)
    "unknown key": ("OPTIM.LR_SHEDULER", "cosine", KeyError,
                    ['Unknown config key "OPTIM.LR_SHEDULER" (from {source})', 'Did you mean "OPTIM.LR_SCHEDULER"',
                     "Fix the spelling"]),
    "wrong value type": ("OPTIM.MAX_EPOCH", "ten", ValueError,
                         ['Config key "OPTIM.MAX_EPOCH" expects int (default 10)', "but {source} gives 'ten' (str)",
                          "Give a value of type int, like the default."]),
}


@pytest.mark.parametrize("case", list(BAD_CONFIG))
@pytest.mark.parametrize("where", ["yaml", "command line"])
def test_bad_config_entry_is_named_with_its_source(case, where, color_root, tmp_path, restore_stdout):
    key, value, error, says = BAD_CONFIG[case]
    flags, opts = [], []
    if where == "yaml":
        node, leaf = key.split(".")
        config = tmp_path / "trainer.yaml"
        config.write_text(f"{node}:\n  {leaf}: {value}\n")
        flags, source = ["--config-file", str(config)], f'config file "{config}"'
    else:
        opts, source = [key, value], "command line"
    with pytest.raises(error) as info:
        main(train_argv("CoOp", color_root, tmp_path / "out", opts, flags=flags))
    assert_says(info, *[line.format(source=source) for line in says])


def test_float_key_given_an_int_says_how_to_write_it(color_root, tmp_path, restore_stdout):
    with pytest.raises(ValueError) as info:
        main(train_argv("CoOp", color_root, tmp_path / "out", ["OPTIM.LR", "1"]))
    assert_says(info, 'Config key "OPTIM.LR" expects float', "Write it as a float, e.g. 1.0")


# ------------------------------------------------------------------------------------------ names
def test_unknown_trainer(color_root, tmp_path, restore_stdout):
    with pytest.raises(ValueError) as info:
        main(train_argv("CoOpp", color_root, tmp_path / "out"))
    assert_says(info, 'Unknown trainer (--trainer / TRAINER.NAME): "CoOpp"', 'Did you mean "CoOp"?',
                "SHIPCLIP_EXTRA_MODULES")


def test_unknown_dataset(color_root, tmp_path, restore_stdout):
    with pytest.raises(ValueError) as info:
        main(train_argv("CoOp", color_root, tmp_path / "out", ["DATASET.NAME", "TrainerTestColours"]))
    assert_says(info, 'Unknown dataset (DATASET.NAME): "TrainerTestColours"', f'Did you mean "{fake.COLOR_DATASET_NAME}"?')


def test_unknown_backbone(color_root, tmp_path, restore_stdout):
    with pytest.raises(ValueError) as info:
        main(train_argv("CoOp", color_root, tmp_path / "out", ["MODEL.BACKBONE.NAME", "ViT-B/61"]))
    assert_says(info, "Unknown CLIP backbone 'ViT-B/61' (MODEL.BACKBONE.NAME)", "Did you mean 'ViT-B/16'?")


# ---------------------------------------------------------------------------------------- weights
def test_missing_weights_file(color_root, tmp_path, restore_stdout):
    missing = tmp_path / "weights" / "clip.pt"
    with pytest.raises(FileNotFoundError) as info:
        main(train_argv("CoOp", color_root, tmp_path / "out", ["MODEL.BACKBONE.PRETRAINED", str(missing)]))
    assert_says(info, f"CLIP weights file not found: {missing}", "MODEL.BACKBONE.PRETRAINED", "Check the path")


def test_corrupt_weights_file(color_root, tmp_path, restore_stdout):
    from shipclip_testing.models import tiny_clip

    path = tmp_path / "clip.pt"
    torch.save(tiny_clip(tmp_path / "cfg").state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(RuntimeError) as info:
        main(train_argv("CoOp", color_root, tmp_path / "out", ["MODEL.BACKBONE.PRETRAINED", str(path)]))
    assert_says(info, f"Could not read CLIP weights from {path}", "download it again or point "
                "MODEL.BACKBONE.PRETRAINED to another file")


def test_wrong_architecture_weights_file(color_root, tmp_path, restore_stdout):
    from shipclip_testing.models import tiny_clip

    path = tmp_path / "resnet_clip.pt"
    torch.save(tiny_clip(tmp_path / "cfg", kind="resnet").state_dict(), path)  # the run builds the tiny ViT
    with pytest.raises(ValueError) as info:
        main(train_argv("CoOp", color_root, tmp_path / "out", ["MODEL.BACKBONE.PRETRAINED", str(path)]))
    assert_says(info, f"cannot take the weights in {path}: wrong architecture", "this file looks like",
                "Set MODEL.BACKBONE.NAME to the architecture of the file")


# ------------------------------------------------------------------------------ eval-only, checkpoints
def test_eval_only_missing_model_folder(color_root, tmp_path, restore_stdout):
    missing = tmp_path / "no_such_run"
    with pytest.raises(FileNotFoundError) as info:
        main(train_argv("CoOp", color_root, tmp_path / "out", flags=["--eval-only", "--model-dir", missing]))
    assert_says(info, f'--model-dir "{missing}" does not exist', "Give the --output-dir of the training run")


def test_eval_only_missing_epoch(coop_run, color_root, tmp_path, restore_stdout):
    flags = ["--eval-only", "--model-dir", coop_run, "--load-epoch", "7"]
    with pytest.raises(FileNotFoundError) as info:
        main(train_argv("CoOp", color_root, tmp_path / "out", RUN_OPTS, flags=flags))
    assert_says(info, f'Model not found at "{coop_run / "prompt_learner" / "model.pth.tar-7"}"',
                "Check --model-dir and --load-epoch (saved epochs there: 1)")


def test_eval_only_model_folder_without_weights(color_root, tmp_path, restore_stdout):
    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as info:
        main(train_argv("CoOp", color_root, tmp_path / "out", RUN_OPTS, flags=["--eval-only", "--model-dir", empty]))
    assert_says(info, f'"{empty / "prompt_learner"}" holds no saved model',
                "give the --output-dir of a finished training run")


def test_eval_only_checkpoint_of_another_trainer(coop_run, color_root, tmp_path, restore_stdout):
    opts = RUN_OPTS + ["TRAINER.COCOOP.N_CTX", "2"]
    with pytest.raises(RuntimeError) as info:
        main(train_argv("CoCoOp", color_root, tmp_path / "out", opts, flags=["--eval-only", "--model-dir", coop_run]))
    text = assert_says(info, f'Checkpoint "{coop_run / "prompt_learner" / "model.pth.tar-1"}" does not match '
                       "prompt_learner of CoCoOp", "It was saved by another trainer",
                       "evaluate it with the --trainer and --config-file of the run that saved it")
    assert "meta_net" in text


def test_eval_only_class_specific_context_on_another_class_set(color_root, tmp_path, restore_stdout):
    csc = RUN_OPTS + ["TRAINER.COOP.CSC", "True", "OPTIM.MAX_EPOCH", "1"]
    trained = main(train_argv("CoOp", color_root, tmp_path / "csc", csc, flags=["--no-train"]))
    trained.save_model(0, str(tmp_path / "csc"))  # a 6-class CSC checkpoint
    flags = ["--eval-only", "--model-dir", tmp_path / "csc"]
    with pytest.raises(ValueError) as info:
        main(train_argv("CoOp", color_root, tmp_path / "out", csc + ["DATASET.SUBSAMPLE_CLASSES", "base"], flags=flags))
    assert_says(info, f'Checkpoint "{tmp_path / "csc" / "prompt_learner" / "model.pth.tar-1"}"',
                "prompt_learner.ctx has shape (6, 2,", "expects (3, 2,",
                "CSC contexts only load on the same label space", "train with TRAINER.COOP.CSC False")


@pytest.mark.parametrize("change", [["TRAINER.NAME", "CoCoOp"], ["DATASET.SUBSAMPLE_CLASSES", "base"]],
                         ids=["another_trainer", "another_class_set"])
def test_resume_from_a_folder_of_another_run(change, coop_run, color_root, tmp_path, restore_stdout):
    """An unfinished folder (no final results.json) of a different run is not silently resumed."""
    folder = tmp_path / "unfinished"
    shutil.copytree(coop_run / "prompt_learner", folder / "prompt_learner")  # what a killed run leaves
    trainer = change[1] if change[0] == "TRAINER.NAME" else "CoOp"
    opts = RUN_OPTS + ["TRAINER.COCOOP.N_CTX", "2"] + ([] if change[0] == "TRAINER.NAME" else change)
    with pytest.raises(RuntimeError) as info:
        main(train_argv(trainer, color_root, folder, opts))
    assert_says(info, f'Cannot resume from "{folder / "prompt_learner" / "model.pth.tar-1"}"',
                "another trainer or of other settings", "Use a new --output-dir for this run")


# ------------------------------------------------------------------------------------ non-finite loss
def _nan_loss(monkeypatch, cls):
    compute_loss = cls.compute_loss

    def poisoned(self, features, labels):
        loss, logits = compute_loss(self, features, labels)
        return loss * float("nan") if self.epoch == 1 else loss, logits

    monkeypatch.setattr(cls, "compute_loss", poisoned)


@pytest.mark.parametrize("trainer, stage", [("CoOp", "CoOp training"),
                                            ("SHIP_CoOp", "SHIP stage 2 (CoOp on real + synthesized features)")])
def test_non_finite_loss_in_training(trainer, stage, color_root, tmp_path, restore_stdout, monkeypatch):
    from shipclip.trainers.base import ClipTrainer

    _nan_loss(monkeypatch, ClipTrainer)
    opts = RUN_OPTS + (SHIP_OPTS if trainer.startswith("SHIP_") else [])
    with pytest.raises(FloatingPointError) as info:
        main(train_argv(trainer, color_root, tmp_path / "out", opts))
    assert_says(info, f"{stage}: non-finite cross-entropy loss (nan) at epoch 2/3, batch 1/",
                "lower OPTIM.LR (the learning rate is now ", "or check the input images")
    # The last complete checkpoint is intact: fixing the cause and rerunning resumes from it.
    assert (tmp_path / "out" / "prompt_learner" / "checkpoint").read_text().strip() == "model.pth.tar-1"


def test_non_finite_loss_in_ship_stage_1(color_root, tmp_path, restore_stdout, monkeypatch):
    from shipclip.ship.vae import FeatureVAE

    forward = FeatureVAE.forward

    def poisoned(self, *args, **kwargs):
        terms = forward(self, *args, **kwargs)
        terms["kl"] = terms["kl"] * float("inf")
        return terms

    monkeypatch.setattr(FeatureVAE, "forward", poisoned)
    with pytest.raises(FloatingPointError) as info:
        main(train_argv("SHIP_CoOp", color_root, tmp_path / "out", RUN_OPTS + SHIP_OPTS))
    assert_says(info, "SHIP generator, stage 1: non-finite kl loss (inf) at epoch 1/2, step 1/",
                "Lower TRAINER.SHIP.LR")
    assert not (tmp_path / "out" / "generator").exists()  # nothing half-fitted is saved for a resume

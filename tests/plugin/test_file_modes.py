"""Files we write get the mode open() would give (644 under umask 022): colleagues sharing a folder can read them."""
import os
import stat

import pytest

from shipclip_testing.lab_code import LAB_DATASET, register_lab_code
from shipclip_testing.models import save_tiny_checkpoint, tiny_clip
from shipclip_testing.runs import run_main

SMALL_SHIP = ["TRAINER.SHIP.ENC_HIDDEN", "32", "TRAINER.SHIP.LATENT_DIM", "8", "TRAINER.SHIP.GEN_HIDDEN", "32",
              "TRAINER.SHIP.EPOCHS", "1", "TRAINER.SHIP.BATCH_SIZE", "8", "TRAINER.SHIP.N_CTX", "2",
              "TRAINER.SHIP.GEN_VIEWS", "1", "OPTIM.MAX_EPOCH", "1"]


@pytest.fixture
def umask():
    """Set a umask for the test, restore the previous one afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_mask(mask):
        os.umask(mask)

    yield set_mask
    os.umask(previous)


def modes(folder):
    """{relative path: permission bits} of every file and folder under ``folder``."""
    found = {}
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(parent, name)
            found[os.path.relpath(path, folder)] = stat.S_IMODE(os.stat(path).st_mode)
    return found


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_atomic_writes_and_shared_dirs_follow_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    from shipclip.infra.io import atomic_torch_save, make_shared_dir, write_json
    from shipclip.results import record_evaluation

    umask(mask)
    write_json({"a": 1}, tmp_path / "x.json")
    atomic_torch_save({"w": 1}, tmp_path / "ckpt" / "model.pth.tar-1")
    record_evaluation(tmp_path / "run", {"trainer": "T"}, {"split": "test", "epoch": 1, "classes": "all",
                                                          "metrics": {"accuracy": 1.0}}, log=None)
    shared = make_shared_dir(str(tmp_path), ".tmp-")
    with open(tmp_path / "plain.txt", "w") as f:  # the reference: what open() gives
        f.write("x")
    found = modes(tmp_path)
    assert found["plain.txt"] == file_mode
    assert {found["x.json"], found[os.path.join("ckpt", "model.pth.tar-1")],
            found[os.path.join("run", "results.json")]} == {file_mode}
    assert found[os.path.basename(shared)] == dir_mode


def test_lab_trainer_run_folder_is_readable_by_colleagues(color_root, tmp_path, umask):
    register_lab_code()
    weights = save_tiny_checkpoint(tiny_clip(str(tmp_path / "bb"), "vit"), str(tmp_path / "tiny.pt"))
    umask(0o022)
    out = tmp_path / "run"
    run_main("SHIP+LabCoOp", color_root, out, opts=SMALL_SHIP + [
        "DATASET.NAME", LAB_DATASET, "MODEL.BACKBONE.PRETRAINED", weights, "DATASET.SUBSAMPLE_CLASSES", "base"])
    found = modes(out)
    for expected in ("results.json", "log.txt", os.path.join("generator", "model.pth.tar-1"),
                     os.path.join("generator", "checkpoint"), os.path.join("prompt_learner", "model.pth.tar-1")):
        assert found.get(expected) == 0o644, (expected, oct(found.get(expected, 0)))
    files = {p: m for p, m in found.items() if os.path.isfile(os.path.join(out, p))}
    dirs = {p: m for p, m in found.items() if os.path.isdir(os.path.join(out, p))}
    assert set(files.values()) == {0o644}, {p: oct(m) for p, m in files.items() if m != 0o644}
    assert set(dirs.values()) == {0o755}, {p: oct(m) for p, m in dirs.items() if m != 0o755}

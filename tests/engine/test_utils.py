"""Logging tee, seeding, atomic writers, image reading and meters."""
import os
import random
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from shipclip.engine import utils
from shipclip.engine.utils import (AverageMeter, MetricMeter, atomic_torch_save, atomic_write_bytes, check_isfile,
                                   collect_env_info, listdir_nohidden, mkdir_if_missing, read_image, read_json,
                                   set_random_seed, setup_logger, tolist_if_not, write_json)


@pytest.fixture
def restore_stdout():
    saved = sys.stdout
    yield
    if sys.stdout is not saved and hasattr(sys.stdout, "close"):
        sys.stdout.close()
    sys.stdout = saved


def test_setup_logger_tees_and_never_overwrites(tmp_path, restore_stdout, capsys):
    out = tmp_path / "run"
    path = setup_logger(str(out))
    assert path == str(out / "log.txt")
    print("first line")
    # Flushed on every write: readable while the run is still going.
    assert (out / "log.txt").read_text() == "first line\n"
    assert "first line" in capsys.readouterr().out

    path2 = setup_logger(str(out))
    assert path2.startswith(str(out / "log.txt-"))
    assert len(os.path.basename(path2)) == len("log.txt-2024-01-01-00-00-00")
    print("second run")
    assert (out / "log.txt").read_text() == "first line\n"  # old log kept as is
    assert open(path2).read() == "second run\n"
    path3 = setup_logger(str(out))
    assert path3 not in (path, path2)
    print("third run")
    assert open(path2).read() == "second run\n" and open(path3).read() == "third run\n"


def test_setup_logger_explicit_file(tmp_path, restore_stdout):
    target = tmp_path / "sub" / "train.log"
    assert setup_logger(str(target)) == str(target)
    print("hello")
    sys.stdout.flush()
    assert target.read_text() == "hello\n"
    assert setup_logger(None) is None


def test_set_random_seed_reproduces_all_rngs():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    set_random_seed(3)
    a = draw()
    set_random_seed(3)
    assert draw() == a
    set_random_seed(4)
    assert draw() != a


def test_collect_env_info_mentions_torch_and_pillow():
    import PIL

    info = collect_env_info()
    assert f"Pillow ({PIL.__version__})" in info
    assert torch.__version__.split("+")[0] in info


def test_write_json_atomic_indent_and_parent(tmp_path):
    path = tmp_path / "a" / "b" / "split.json"
    obj = {"train": [["x.jpg", 0, "cat"]], "n": 1}
    write_json(obj, str(path))
    assert read_json(str(path)) == obj
    assert '\n    "train": [' in path.read_text()
    assert os.listdir(path.parent) == ["split.json"]

    # A failing write leaves the previous file intact and no temp file behind.
    with pytest.raises(TypeError):
        write_json({"bad": object()}, str(path))
    assert read_json(str(path)) == obj
    assert os.listdir(path.parent) == ["split.json"]


def test_atomic_torch_save_and_bytes(tmp_path):
    path = tmp_path / "state.pt"
    atomic_torch_save({"w": torch.arange(3)}, str(path))
    assert torch.equal(torch.load(str(path), weights_only=True)["w"], torch.arange(3))
    with pytest.raises(Exception):
        atomic_torch_save({"f": lambda x: x}, str(path))  # lambdas do not pickle
    assert torch.equal(torch.load(str(path), weights_only=True)["w"], torch.arange(3))
    assert os.listdir(tmp_path) == ["state.pt"]

    atomic_write_bytes(str(tmp_path / "p.txt"), "model.pth.tar-3\n")
    assert (tmp_path / "p.txt").read_text() == "model.pth.tar-3\n"
    atomic_write_bytes(str(tmp_path / "p.txt"), b"\x00\x01")
    assert (tmp_path / "p.txt").read_bytes() == b"\x00\x01"


def test_listdir_check_isfile_mkdir_tolist(tmp_path):
    for name in ("b", "a", ".hidden"):
        (tmp_path / name).write_text("")
    assert sorted(listdir_nohidden(str(tmp_path))) == ["a", "b"]
    assert listdir_nohidden(str(tmp_path), sort=True) == ["a", "b"]
    assert check_isfile(str(tmp_path / "a")) is True
    with pytest.warns(UserWarning, match="No file found"):
        assert check_isfile(str(tmp_path / "zz")) is False
    mkdir_if_missing(str(tmp_path / "x" / "y"))
    mkdir_if_missing(str(tmp_path / "x" / "y"))
    assert (tmp_path / "x" / "y").is_dir()
    assert tolist_if_not(3) == [3] and tolist_if_not([3]) == [3]


def test_read_image_rgb_missing_and_corrupt(tmp_path):
    gray = tmp_path / "gray.png"
    Image.fromarray(np.full((6, 5), 128, dtype=np.uint8)).save(gray)
    img = read_image(str(gray))
    assert img.mode == "RGB" and img.size == (5, 6) and img.getpixel((0, 0)) == (128, 128, 128)

    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        read_image(str(tmp_path / "missing.jpg"))

    # A truncated JPEG opens lazily without error; full decoding must catch it.
    rng = np.random.default_rng(0)
    full = tmp_path / "full.jpg"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(full, quality=95)
    data = full.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(OSError) as info:
        read_image(str(cut))
    assert "cut.jpg" in str(info.value) and "re-extract" in str(info.value)

    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(OSError, match="junk.png"):
        read_image(str(junk))


def test_average_meter():
    m = AverageMeter()
    m.update(2.0)
    m.update(torch.tensor(4.0), n=3)
    assert m.val == 4.0 and m.sum == 14.0 and m.count == 4 and m.avg == 3.5
    e = AverageMeter(ema=True)
    e.update(10.0)
    e.update(20.0)
    assert e.avg == pytest.approx((0 * 0.9 + 10 * 0.1) * 0.9 + 20 * 0.1)


def test_metric_meter_format_and_type_check():
    mm = MetricMeter()
    mm.update({"loss": torch.tensor(1.0), "acc": 50.0})
    mm.update({"loss": 3.0, "acc": 100.0})
    mm.update(None)
    assert str(mm) == "loss 3.0000 (2.0000) acc 100.0000 (75.0000)"
    assert MetricMeter(delimiter=", ").delimiter == ", "
    with pytest.raises(TypeError):
        mm.update([1.0])


def test_module_exports_exist():
    for name in utils.__all__:
        assert hasattr(utils, name), name


def test_collect_env_info_survives_a_failing_report(monkeypatch):
    import torch.utils.collect_env as collect_env

    def broken():
        raise FileNotFoundError("nvidia-smi")

    monkeypatch.setattr(collect_env, "get_pretty_env_info", broken)
    info = collect_env_info()
    assert f"PyTorch version: {torch.__version__}" in info and "nvidia-smi" in info and "Pillow (" in info

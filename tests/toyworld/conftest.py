"""ToyWorld fixtures: a quick world rendered once per session, and an isolated cache folder."""
import pytest

from shipclip.toyworld.build import QUICK_COUNTS, build_dataset
from shipclip.toyworld.pretrain import PretrainSettings
from shipclip.toyworld.world import quick_world


@pytest.fixture(scope="session")
def tiny_settings():
    """The smallest pretraining that exercises every step (seconds on 2 cores)."""
    return PretrainSettings(steps=2, batch_size=32, warmup=1, pool_per_class=4, eval_per_class=2, seed=0)


@pytest.fixture(scope="session")
def quick_root(tmp_path_factory):
    """DATASET.ROOT of a quick ToyWorld (shared by the session; do not modify it)."""
    root = tmp_path_factory.mktemp("toyworld_data")
    build_dataset(root, quick_world(), seed=1, counts=QUICK_COUNTS, progress=False, log=lambda *a: None)
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """``SHIPCLIP_CACHE`` pointed at an empty folder; returns the toyworld cache folder."""
    monkeypatch.setenv("SHIPCLIP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "toyworld"

"""Shared fixtures: a tiny image dataset generated on disk and a tiny trainer (``shipclip_testing``).

The dataset and the linear trainer are defined in ``shipclip_testing.engine_components``; the colour
dataset of the trainer tests in ``shipclip_testing.fake_datasets``.
"""
import os

# Tiny models on a shared 2-core machine: one intra-op thread is 30-100x faster than torch's default
# (thread start-up dominates). Set before torch is imported; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from shipclip_testing.engine_components import apply_tiny_cfg, make_test_components, tiny_cfg_yaml  # noqa: E402
from shipclip_testing.fake_datasets import write_color_dataset, write_tiny_image_dataset  # noqa: E402


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory):
    """Folder holding the generated tiny dataset (shared by the session; do not modify it)."""
    root = tmp_path_factory.mktemp("tiny_data")
    write_tiny_image_dataset(root)
    return root


@pytest.fixture
def tiny_components():
    """Test dataset/trainer classes on the active engine (``shipclip.backend``)."""
    import shipclip.backend

    return make_test_components(shipclip.backend)


@pytest.fixture
def builtin_components():
    """Test dataset/trainer classes on the built-in engine (``shipclip.engine``)."""
    import shipclip.engine

    return make_test_components(shipclip.engine)


@pytest.fixture
def tiny_cfg_file(tmp_path):
    """``TINY_CFG`` written as a trainer YAML (``--config-file``) in ``tmp_path``."""
    path = tmp_path / "tiny_cfg.yaml"
    path.write_text(tiny_cfg_yaml())
    return path


@pytest.fixture
def tiny_cfg(tiny_data_root, tmp_path):
    """A mutable project config for the tiny dataset and trainer, writing into ``tmp_path/output``."""
    from shipclip.config import get_cfg

    return apply_tiny_cfg(get_cfg(), tiny_data_root, tmp_path / "output")


@pytest.fixture(scope="session")
def color_root(tmp_path_factory):
    """Folder holding the colour dataset of the trainer tests (shared by the session; do not modify it)."""
    root = tmp_path_factory.mktemp("trainer_data")
    write_color_dataset(root)
    return root


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: spawns processes or trains several models; "
                                       "`-m 'not slow'` is the fast lane, CI runs everything")

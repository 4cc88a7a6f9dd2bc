"""Fixtures of the reliability suite (helpers: reliability_helpers.py)."""
import sys

import pytest

from shipclip_testing.reliability import TRAINER_OPTS, main, train_argv


@pytest.fixture
def restore_stdout(monkeypatch):
    """``train.main`` tees stdout into the run's log.txt; put the real stdout back afterwards."""
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    yield
    if type(sys.stdout).__name__ == "_Tee":
        sys.stdout.close()


@pytest.fixture(scope="session")
def reference_run(color_root, tmp_path_factory):
    """``reference_run(trainer)``: the folder of an uninterrupted run of ``TRAINER_OPTS[trainer]`` (made once)."""
    made = {}

    def get(trainer):
        if trainer not in made:
            out = tmp_path_factory.mktemp(f"reference_{trainer}")
            main(train_argv(trainer, color_root, out, TRAINER_OPTS[trainer]))
            made[trainer] = out
        return made[trainer]

    return get

"""LAUNCHER=serial and LAUNCHER=local on the stand-in train.py: same files, parallel runs, GPUs, threads,
failures, and a rerun after an interruption that runs only what is missing."""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sweep_helpers import SCRIPTS, calls, describe, fake_env, results, run_script, table_text

B2N = "base2new/{role}/dtd/shots_2/CoOp/vit_b16_ctxv1/seed{seed}"


def test_local_runs_two_at_a_time_and_writes_what_serial_writes(tmp_path):
    data = str(tmp_path / "data")  # the same command lines in both folders
    serial = run_script("base2new.sh", ["dtd", "CoOp"], fake_env(tmp_path / "a", DATA=data), tmp_path / "a")
    assert serial.returncode == 0, describe(serial)
    # The seed-1 training step finishes only once the seed-2 one is running: two runs at the same time.
    pair = f"{B2N.format(role='train_base', seed=1)}|{B2N.format(role='train_base', seed=2)}"
    env = fake_env(tmp_path / "b", DATA=data, LAUNCHER="local", WORKERS="2", FAKE_PAIR=pair)
    local = run_script("base2new.sh", ["dtd", "CoOp"], env, tmp_path / "b")
    assert local.returncode == 0, describe(local)

    expected = {B2N.format(role=r, seed=s) for r in ("train_base", "test_new") for s in (1, 2)}
    assert set(results(tmp_path / "a" / "out")) == expected
    assert results(tmp_path / "b" / "out") == results(tmp_path / "a" / "out")  # byte for byte
    assert table_text(local.stdout) == table_text(serial.stdout)
    first = {c["out"]: c for c in calls(tmp_path / "b" / "calls.jsonl")}
    assert f"out/{B2N.format(role='train_base', seed=1)}" in first[f"out/{B2N.format(role='train_base', seed=2)}"][
        "running"] or f"out/{B2N.format(role='train_base', seed=2)}" in first[
        f"out/{B2N.format(role='train_base', seed=1)}"]["running"]
    # Evaluations loaded the epoch their training step saved (read when they started).
    for seed in (1, 2):
        argv = first[f"out/{B2N.format(role='test_new', seed=seed)}"]["argv"]
        assert argv[argv.index("--load-epoch") + 1] == "3"
    # One progress line per run; each run's console in OUTPUT/.sweep/logs; serial captures nothing.
    assert sum(line.startswith("[") and "] done in " in line for line in local.stdout.splitlines()) == 4
    for name in expected:
        log = tmp_path / "b" / "out" / ".sweep" / "logs" / f"{name}.log"
        assert f"fake train.py for out/{name}" in log.read_text()
    assert not (tmp_path / "a" / "out" / ".sweep").exists()


def test_local_pins_each_worker_to_one_gpu(tmp_path):
    pair = "shots_1/CoOp/vit_b16/seed1|shots_1/CoOp/vit_b16/seed2"
    env = fake_env(tmp_path, LAUNCHER="local", WORKERS="2", GPUS="3 5", SHOTS="1 2", FAKE_PAIR=pair)
    proc = run_script("fewshot.sh", ["dtd", "CoOp"], env, tmp_path)
    assert proc.returncode == 0, describe(proc)
    made = calls(tmp_path / "calls.jsonl")
    assert len(made) == 4
    device = {c["out"]: c["CUDA_VISIBLE_DEVICES"] for c in made}
    assert set(device.values()) <= {"3", "5"}
    overlapping = [(c["out"], other) for c in made for other in c["running"]]
    assert overlapping  # the pair above ran together
    assert all(device[a] != device[b] for a, b in overlapping)


def test_local_divides_the_cpu_cores_between_workers(tmp_path):
    env = fake_env(tmp_path / "split", LAUNCHER="local", WORKERS="2", SHOTS="1")
    env.pop("OMP_NUM_THREADS", None)
    proc = run_script("fewshot.sh", ["dtd", "CoOp"], env, tmp_path / "split")
    assert proc.returncode == 0, describe(proc)
    threads = str(max(1, len(os.sched_getaffinity(0)) // 2))
    made = calls(tmp_path / "split" / "calls.jsonl")
    assert [(c["OMP_NUM_THREADS"], c["MKL_NUM_THREADS"]) for c in made] == [(threads, threads)] * 2
    assert f"OMP_NUM_THREADS=MKL_NUM_THREADS={threads}" in proc.stdout

    env = fake_env(tmp_path / "kept", LAUNCHER="local", WORKERS="2", SHOTS="1", OMP_NUM_THREADS="3")
    proc = run_script("fewshot.sh", ["dtd", "CoOp"], env, tmp_path / "kept")
    assert proc.returncode == 0, describe(proc)
    assert [c["OMP_NUM_THREADS"] for c in calls(tmp_path / "kept" / "calls.jsonl")] == ["3", "3"]
    assert "OMP_NUM_THREADS is set in the environment" in proc.stdout


@pytest.mark.parametrize("launcher", ["serial", "local"])
def test_a_failed_training_blocks_only_its_evaluation_and_a_rerun_retries_it(tmp_path, launcher):
    failing = B2N.format(role="train_base", seed=1)
    env = fake_env(tmp_path, LAUNCHER=launcher, WORKERS="2", FAKE_FAIL=failing)
    proc = run_script("base2new.sh", ["dtd", "CoOp"], env, tmp_path)
    assert proc.returncode == 1, describe(proc)
    assert [c["out"] for c in calls(tmp_path / "calls.jsonl")].count(f"out/{B2N.format(role='test_new', seed=1)}") == 0
    assert set(results(tmp_path / "out")) == {B2N.format(role=r, seed=2) for r in ("train_base", "test_new")}
    failed = [line for line in proc.stdout.splitlines() if line.startswith(f"  out/{failing}: exit code 1; log: ")]
    assert len(failed) == 1, proc.stdout
    log = failed[0].split("; log: ", 1)[1]
    if launcher == "local":  # the captured console holds the error
        assert "fake failure" in Path(tmp_path, log).read_text()
    else:  # serial runs print on the terminal
        assert log == "none written (see the output above)" and "fake failure" in proc.stderr
    assert f"  out/{B2N.format(role='test_new', seed=1)}: it needs out/{failing}, which did not finish" in proc.stdout
    assert "scripts/results.py" not in proc.stdout  # no table while runs are missing

    before = results(tmp_path / "out")
    retry = fake_env(tmp_path, LAUNCHER=launcher, WORKERS="2", FAKE_CALLS=str(tmp_path / "retry.jsonl"))
    proc = run_script("base2new.sh", ["dtd", "CoOp"], retry, tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert [c["out"] for c in calls(tmp_path / "retry.jsonl")] == [
        f"out/{failing}", f"out/{B2N.format(role='test_new', seed=1)}"]
    after = results(tmp_path / "out")
    assert {k: after[k] for k in before} == before
    assert "Base-to-new" in table_text(proc.stdout)


def wait_until(predicate, what, timeout_s=120):
    end = time.time() + timeout_s
    while not predicate():
        assert time.time() < end, f"gave up waiting for {what}"
        time.sleep(0.05)


def _as_from_a_terminal():
    """Ctrl-C's default action in the script, whatever started the tests.

    A shell without job control starts background commands (``cmd &``) with SIGINT ignored, and an
    ignored signal stays ignored across exec: Python then installs no KeyboardInterrupt handler and the
    sweep would never see the Ctrl-C this test sends.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("launcher", ["serial", "local"])
def test_an_interrupted_sweep_reruns_only_the_missing_runs(tmp_path, launcher):
    held = "fewshot/dtd/shots_2/CoOp/vit_b16/seed1"
    env = fake_env(tmp_path, LAUNCHER=launcher, WORKERS="2", SHOTS="1 2", FAKE_HOLD=held,
                   FAKE_HOLD_STARTED=str(tmp_path / "held"), FAKE_RELEASE=str(tmp_path / "never"))
    proc = subprocess.Popen(["bash", str(SCRIPTS / "fewshot.sh"), "dtd", "CoOp"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_as_from_a_terminal)
    try:
        wait_until(lambda: (tmp_path / "held").exists(), "the held run to start")
        if launcher == "local":  # the other worker finishes the rest meanwhile
            wait_until(lambda: len(results(tmp_path / "out")) == 3, "the three other runs")
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C on a terminal
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, f"{stdout}\n{stderr}"
    assert "Interrupted with" in stdout and "Run the same command again" in stdout
    finished = results(tmp_path / "out")
    assert held not in finished
    assert set(finished) == ({"fewshot/dtd/shots_1/CoOp/vit_b16/seed1", "fewshot/dtd/shots_1/CoOp/vit_b16/seed2"} |
                             ({"fewshot/dtd/shots_2/CoOp/vit_b16/seed2"} if launcher == "local" else set()))

    rerun = fake_env(tmp_path, LAUNCHER=launcher, WORKERS="2", SHOTS="1 2", FAKE_CALLS=str(tmp_path / "rerun.jsonl"))
    done = run_script("fewshot.sh", ["dtd", "CoOp"], rerun, tmp_path)
    assert done.returncode == 0, describe(done)
    ran = {c["out"][len("out/"):] for c in calls(tmp_path / "rerun.jsonl")}
    all_runs = {f"fewshot/dtd/shots_{k}/CoOp/vit_b16/seed{s}" for k in (1, 2) for s in (1, 2)}
    assert ran == all_runs - set(finished)
    assert done.stdout.count("Skip: ") == len(finished)
    after = results(tmp_path / "out")
    assert set(after) == all_runs and {k: after[k] for k in finished} == finished
    assert "Few-shot" in table_text(done.stdout)


def test_bad_launcher_settings_stop_before_anything_runs(tmp_path):
    for extra, message in (({"LAUNCHER": "cloud"}, "LAUNCHER='cloud' is unknown; choose one of serial, local, slurm"),
                           ({"LAUNCHER": "local", "WORKERS": "0"}, "WORKERS='0' is not a positive whole number"),
                           ({"LAUNCHER": "slurm", "SWEEP_SLURM_TIME": "soon"}, "SWEEP_SLURM_TIME='soon' is not a Slurm time")):
        proc = run_script("fewshot.sh", ["dtd", "CoOp"], fake_env(tmp_path, **extra), tmp_path)
        assert proc.returncode == 1 and message in proc.stderr, describe(proc)
    assert not (tmp_path / "calls.jsonl").exists() and not (tmp_path / "out").exists()

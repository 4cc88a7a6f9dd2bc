"""LAUNCHER=slurm without a cluster: the array through submitit's local and debug executors, the
sbatch file submitit would submit, and the settings read from YAML and SWEEP_SLURM_* variables."""
import os
import re

import pytest
import submitit  # noqa: F401  (the optional dependency these tests exercise; in the "test" extra)

from shipclip.sweep import SweepError
from shipclip.sweep.cli import main
from shipclip.sweep.launchers import slurm, slurm_options
from sweep_helpers import REPO, calls, describe, fake_env, results, run_script, table_text

B2N = "base2new/{role}/dtd/shots_2/CoOp/vit_b16_ctxv1/seed{seed}"


def sbatch_lines(text):
    return {line.split("=", 1)[0]: line.split("=", 1)[1] if "=" in line else True
            for line in (raw.strip() for raw in text.splitlines()) if line.startswith("#SBATCH --")}


def test_slurm_array_through_submitits_local_executor_writes_what_serial_writes(tmp_path):
    data = str(tmp_path / "data")
    serial = run_script("base2new.sh", ["dtd", "CoOp"], fake_env(tmp_path / "a", DATA=data), tmp_path / "a")
    assert serial.returncode == 0, describe(serial)
    env = fake_env(tmp_path / "b", DATA=data, LAUNCHER="slurm", SWEEP_SLURM_CLUSTER="local", SWEEP_SLURM_POLL_S="0.1")
    proc = run_script("base2new.sh", ["dtd", "CoOp"], env, tmp_path / "b")
    assert proc.returncode == 0, describe(proc)
    assert "2 array task(s), one per chain of dependent runs" in proc.stdout
    assert results(tmp_path / "b" / "out") == results(tmp_path / "a" / "out")
    assert table_text(proc.stdout) == table_text(serial.stdout)
    made = calls(tmp_path / "b" / "calls.jsonl")
    order = [c["out"] for c in made]
    for seed in (1, 2):  # in each task the evaluation ran after its training step, with its epoch
        train, test = f"out/{B2N.format(role='train_base', seed=seed)}", f"out/{B2N.format(role='test_new', seed=seed)}"
        assert order.index(train) < order.index(test)
        argv = made[order.index(test)]["argv"]
        assert argv[argv.index("--load-epoch") + 1] == "3"
        assert (tmp_path / "b" / test.replace("out/", "out/.sweep/logs/", 1)).with_suffix(".log").is_file()
    assert list((tmp_path / "b" / "out" / ".sweep" / "slurm").glob("*_result.pkl"))  # submitit's own files

    again = run_script("base2new.sh", ["dtd", "CoOp"], env, tmp_path / "b")
    assert again.returncode == 0, describe(again)
    assert "Nothing to submit: every run is finished." in again.stdout and again.stdout.count("Skip: ") == 4
    assert "Base-to-new" in table_text(again.stdout)


def test_array_task_runs_its_chain_and_blocks_after_a_failure(tmp_path, monkeypatch, capsys):
    """The debug executor runs the array tasks in this process."""
    failing = B2N.format(role="train_base", seed=2)
    env = fake_env(tmp_path, LAUNCHER="slurm", SWEEP_SLURM_CLUSTER="debug", FAKE_FAIL=failing)
    monkeypatch.chdir(tmp_path)
    for key in set(os.environ) - set(env):  # the runs inherit this process's environment
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = main(["--repo", str(REPO), "base2new", "dtd", "CoOp"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert set(results(tmp_path / "out")) == {B2N.format(role=r, seed=1) for r in ("train_base", "test_new")}
    assert f"  out/{failing}: exit code 1; log: {tmp_path}/out/.sweep/logs/{failing}.log" in out
    assert "fake failure" in (tmp_path / "out" / ".sweep" / "logs" / f"{failing}.log").read_text()
    assert f"blocked: base2new dtd CoOp/vit_b16_ctxv1 seed 2: new classes (it needs out/{failing}" in out
    assert [c["out"] for c in calls(tmp_path / "calls.jsonl")].count(f"out/{B2N.format(role='test_new', seed=2)}") == 0


def test_dry_run_prints_the_array_of_the_unfinished_chains(tmp_path):
    done = run_script("fewshot.sh", ["dtd", "CoOp"], fake_env(tmp_path, SHOTS="1"), tmp_path)
    assert done.returncode == 0, describe(done)
    config = tmp_path / "slurm.yaml"
    config.write_text("partition: gpu\ntime: '2:00:00'\ngpus_per_task: 1\nsbatch:\n  account: mylab\n")
    env = fake_env(tmp_path, SHOTS="1 2 4", LAUNCHER="slurm", DRY_RUN="1", SWEEP_SLURM_CONFIG=str(config),
                   FAKE_CALLS=str(tmp_path / "dry.jsonl"))
    before = results(tmp_path / "out")
    proc = run_script("fewshot.sh", ["dtd", "CoOp"], env, tmp_path)
    assert proc.returncode == 0, describe(proc)
    tasks = re.findall(r"^  task (\d+): (\S+)$", proc.stdout, flags=re.M)
    assert [name for _, name in tasks] == [f"fewshot/dtd/shots_{k}/CoOp/vit_b16/seed{s}" for k in (2, 4) for s in (1, 2)]
    assert proc.stdout.count("Skip: ") == 2  # shots_1 is finished: not submitted
    flags = sbatch_lines(proc.stdout)
    assert flags["#SBATCH --array"] == "0-3%4" and flags["#SBATCH --partition"] == "gpu"
    assert flags["#SBATCH --time"] == "120" and flags["#SBATCH --gpus-per-node"] == "1"
    assert flags["#SBATCH --account"] == "mylab" and flags["#SBATCH --job-name"] == "ship-fewshot"
    assert "-m submitit.core._submit" in proc.stdout
    assert not (tmp_path / "dry.jsonl").exists() and results(tmp_path / "out") == before
    assert not (tmp_path / "out" / ".sweep").exists()


def test_job_parameters_from_yaml_and_environment(tmp_path):
    config = tmp_path / "cluster.yaml"
    config.write_text("partition: gpu\ntime: 90\ngpus_per_task: 2\ncpus_per_task: 8\nmem: 32GB\n"
                      "array_parallelism: 2\nsbatch: {account: mylab, qos: low}\n"
                      "setup: ['module load cuda/12.1', 'echo ready']\n")
    options = slurm_options.from_env({"SWEEP_SLURM_CONFIG": str(config), "SWEEP_SLURM_TIME": "1-02:00:30",
                                      "SWEEP_SLURM_SBATCH": "--qos=high --exclusive"})
    assert options.time_min == 26 * 60 + 1  # the variable wins over the YAML; seconds round up
    assert options.sbatch == (("qos", "high"), ("exclusive", True))  # the variable replaces the YAML's options
    text = slurm.sbatch_script(options, "ship-xd", str(tmp_path / "sub"), 3)
    flags = sbatch_lines(text)
    assert flags["#SBATCH --array"] == "0-2%2" and flags["#SBATCH --partition"] == "gpu"
    assert flags["#SBATCH --time"] == "1561" and flags["#SBATCH --gpus-per-node"] == "2"
    assert flags["#SBATCH --cpus-per-task"] == "8" and flags["#SBATCH --mem"] == "32GB"
    assert flags["#SBATCH --qos"] == "high" and flags["#SBATCH --exclusive"] is True
    assert flags["#SBATCH --job-name"] == "ship-xd" and "#SBATCH --account" not in flags
    lines = text.splitlines()
    assert lines.index("module load cuda/12.1") < lines.index("echo ready") < next(
        i for i, line in enumerate(lines) if line.startswith("srun "))
    single = sbatch_lines(slurm.sbatch_script(slurm_options.from_env({}), "ship-x", str(tmp_path / "sub"), 1))
    assert "#SBATCH --array" not in single and single["#SBATCH --time"] == "360"
    assert single["#SBATCH --gpus-per-node"] == "1" and "#SBATCH --partition" not in single
    cpu = sbatch_lines(slurm.sbatch_script(slurm_options.from_env({"SWEEP_SLURM_GPUS_PER_TASK": "0"}), "x",
                                           str(tmp_path / "sub"), 2))
    assert "#SBATCH --gpus-per-node" not in cpu
    assert not (tmp_path / "sub").exists()  # printing a plan writes nothing


@pytest.mark.parametrize("text, minutes", [("45", 45), ("30:30", 31), ("4:00:00", 240), ("2-12", 3600),
                                           ("1-00:30", 1470), ("0:00:01", 1)])
def test_slurm_time_formats(text, minutes):
    assert slurm_options.parse_time(text, "SWEEP_SLURM_TIME") == minutes


def test_bad_slurm_settings_name_the_file_or_variable(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("partition: gpu\ngpu: 1\n")
    with pytest.raises(SweepError, match=r"bad\.yaml: unknown key\(s\) gpu; valid keys: partition, time"):
        slurm_options.from_env({"SWEEP_SLURM_CONFIG": str(bad)})
    with pytest.raises(SweepError, match=r"SWEEP_SLURM_CONFIG=.*missing\.yaml: cannot read it"):
        slurm_options.from_env({"SWEEP_SLURM_CONFIG": str(tmp_path / "missing.yaml")})
    with pytest.raises(SweepError, match="'account=lab' is not an sbatch long option"):
        slurm_options.from_env({"SWEEP_SLURM_SBATCH": "account=lab"})
    with pytest.raises(SweepError, match="SWEEP_SLURM_GPUS_PER_TASK='one' must be a whole number"):
        slurm_options.from_env({"SWEEP_SLURM_GPUS_PER_TASK": "one"})
    with pytest.raises(SweepError, match="SWEEP_SLURM_CLUSTER='pbs' is unknown; choose one of slurm, local, debug"):
        slurm_options.from_env({"SWEEP_SLURM_CLUSTER": "pbs"})

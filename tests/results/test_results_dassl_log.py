"""Dassl log.txt parsing (CoOp's parse_test_res.py rule) and runs known only from their logs."""
import pytest

from results_trees import LAYOUT, cell, evaluation, run_info
from shipclip.results import collect, harmonic_mean, parse_log, record_evaluation, summarize


ARGS_BLOCK = """***************
** Arguments **
***************
backbone: 
config_file: configs/trainers/CoOp/vit_b16_ep50.yaml
dataset_config_file: configs/datasets/oxford_pets.yaml
eval_only: {eval_only}
opts: ['DATASET.NUM_SHOTS', '16', 'DATASET.SUBSAMPLE_CLASSES', '{subsample}']
seed: {seed}
trainer: CoOp
************
** Config **
************
DATASET:
  NAME: OxfordPets
"""


def result_block(acc, total="3,669", correct="3,300"):
    return (f"=> result\n* total: {total}\n* correct: {correct}\n* accuracy: {acc}%\n* error: 10.0%\n"
            f"* macro_f1: 89.5%\n")


def train_log(final="89.9", seed=1, subsample="base", finished=True):
    text = ARGS_BLOCK.format(eval_only="False", seed=seed, subsample=subsample)
    text += "epoch [1/2] batch [5/5] loss 1.0\nEvaluate on the *val* set\n" + result_block("50.0")
    if finished:
        text += "Finish training\nDeploy the last-epoch model\nEvaluate on the *test* set\n" + result_block(final)
        text += "Elapsed: 0:00:10\n"
    return text


def test_parse_train_log_takes_last_accuracy_after_finish_training(tmp_path):
    log = tmp_path / "log.txt"
    log.write_text(train_log("89.9"))
    parsed = parse_log(log)
    assert parsed["eval_only"] is False
    assert parsed["metrics"] == {"accuracy": 89.9, "total": 3669, "correct": 3300, "error_rate": 10.0,
                                 "macro_f1": 89.5}
    assert parsed["args"]["trainer"] == "CoOp" and parsed["args"]["seed"] == "1"
    log.write_text(train_log(finished=False))  # only the val result before the end signal
    assert parse_log(log) is None


def test_parse_eval_log_one_and_two_decimals(tmp_path):
    log = tmp_path / "log.txt"
    log.write_text(ARGS_BLOCK.format(eval_only="True", seed=2, subsample="new") + "Evaluate on the *test* set\n"
                   + result_block("76.25"))
    assert parse_log(log)["metrics"]["accuracy"] == 76.25
    log.write_text(ARGS_BLOCK.format(eval_only="True", seed=2, subsample="new") + result_block("76.3"))
    parsed = parse_log(log)
    assert parsed["eval_only"] is True and parsed["metrics"]["accuracy"] == 76.3
    # No "eval_only" line (another train.py): the caller says it is an evaluation log.
    log.write_text(result_block("77.0"))
    assert parse_log(log) is None
    assert parse_log(log, eval_only=True)["metrics"]["accuracy"] == 77.0


def test_collect_counts_log_only_runs(tmp_path):
    for seed, (base, new) in enumerate([("80.0", "60.00"), ("82.0", "62.50")], start=1):
        train_dir = tmp_path / LAYOUT.format(protocol="base2new", role="train_base", dataset="oxford_pets", shots=16,
                                             trainer="CoOp", cfg="vit_b16_ctxv1", seed=seed)
        test_dir = tmp_path / LAYOUT.format(protocol="base2new", role="test_new", dataset="oxford_pets", shots=16,
                                            trainer="CoOp", cfg="vit_b16_ctxv1", seed=seed)
        train_dir.mkdir(parents=True)
        test_dir.mkdir(parents=True)
        (train_dir / "log.txt").write_text(train_log(base, seed=seed))
        # eval log without the arguments block: the test_new folder says it is an evaluation
        (test_dir / "log.txt").write_text("Evaluate on the *test* set\n" + result_block(new))
    # a resumed run: Dassl kept the old log and wrote the new one with a time stamp
    (train_dir / "log.txt").write_text(train_log(finished=False, seed=2))
    (train_dir / "log.txt-2024-05-01-10-00-00").write_text(train_log("82.0", seed=2))
    records = collect(tmp_path)
    assert {r["source"] for r in records} == {"log"} and all(r["finished"] for r in records)
    summary = summarize(records)
    coop = cell(summary, "base2new", "oxford_pets", "CoOp")
    assert coop["Base"]["mean"] == pytest.approx(81.0) and coop["New"]["mean"] == pytest.approx(61.25)
    assert coop["H"]["mean"] == pytest.approx(harmonic_mean(81.0, 61.25))
    assert summary["missing"] == [] and "log.txt" in summary["notes"][0]


def test_results_json_wins_over_log(tmp_path):
    run_dir = tmp_path / "somewhere" / "seed1"
    run_dir.mkdir(parents=True)
    (run_dir / "log.txt").write_text(train_log("10.0"))
    record_evaluation(run_dir, run_info(), evaluation(77.125), log=None)
    (record,) = collect(tmp_path)
    assert record["source"] == "json" and record["metrics"]["accuracy"] == 77.125

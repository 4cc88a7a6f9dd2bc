"""Protocol, dataset, trainer, config and seed from a run's folder; runs outside the layout."""
import pytest

from results_trees import evaluation, run_info
from shipclip.results import collect, parse_layout, record_evaluation, summarize



@pytest.mark.parametrize("path, expected", [
    ("out/base2new/train_base/dtd/shots_16/CoOp/vit_b16_ctxv1/seed3",
     dict(protocol="base2new", role="train_base", dataset="dtd", shots=16, trainer="CoOp", config="vit_b16_ctxv1",
          seed=3, variant="", target="")),
    ("out/ablation/no_kl/base2new/test_new/dtd/shots_16/SHIP_CoOp/vit_b16/seed1",
     dict(protocol="ablation", role="test_new", variant="no_kl", trainer="SHIP_CoOp")),
    ("out/xd/train/imagenet/shots_16/SHIP_CoOp/vit_b16/to_dtd/seed2",
     dict(protocol="xd", role="train", dataset="imagenet", target="dtd", config="vit_b16", seed=2)),
    ("out/xd/test/imagenet_a/shots_16/CoOp/vit_b16_ep50_ctxv1/seed1",
     dict(protocol="xd", role="test", dataset="imagenet_a")),
    ("out/gzsl/test_joint/gzsl_cub/shots_16/CoOp/vit_b16/seed1", dict(protocol="gzsl", role="test_joint")),
    ("out/fewshot/eurosat/shots_4/CoOp/vit_b16/seed2", dict(protocol="fewshot", dataset="eurosat", shots=4)),
    ("out/fewshot/eurosat/shots_4/CoOp/vit_b16/nctx16/seed2", dict(protocol="fewshot", config="vit_b16/nctx16")),
])
def test_parse_layout(tmp_path, path, expected):
    info = parse_layout(tmp_path / path)
    assert info is not None
    for key, value in expected.items():
        assert info[key] == value, key


@pytest.mark.parametrize("path", ["out/oxford_pets/CoOp/rn50_16shots/nctx16_cscFalse_ctpend/seed1",
                                  "out/base2new/train_base/dtd/CoOp/cfg/seed1", "out/base2new/train_base/x"])
def test_parse_layout_rejects_other_paths(tmp_path, path):
    assert parse_layout(tmp_path / path) is None


def test_runs_outside_the_layout_are_grouped_by_parent(tmp_path):
    for seed, acc in ((1, 70.0), (2, 74.0)):
        record_evaluation(tmp_path / "oxford_pets" / "CoOp" / "rn50_16shots" / f"seed{seed}",
                          run_info(seed=seed, subsample="all"), evaluation(acc, classes="all"), log=None)
    summary = summarize(collect(tmp_path))
    (table,) = summary["tables"]
    assert table["protocol"] == "runs"
    (row,) = table["rows"]
    assert row["group"] == "oxford_pets/CoOp/rn50_16shots" and row["trainer"] == "CoOp"
    assert row["Acc"]["mean"] == pytest.approx(72.0) and row["Acc"]["std"] == pytest.approx(2.0)

"""ZeroshotCLIP / ZeroshotCLIP2: logits equal open_clip's own encoders; eval-only runs record results."""
import pytest
import torch
import torch.nn.functional as F

from shipclip_testing.fake_datasets import COLOR_CLASSES as CLASSES
from shipclip_testing.runs import read_results, run_main


def reference_classifier(t, templates):
    feats = []
    for name in t.get_eval_classnames():
        tokens = t.tokenizer([tpl.format(name) for tpl in templates])
        with torch.no_grad():
            feats.append(F.normalize(F.normalize(t.clip_model.encode_text(tokens).float(), dim=-1).mean(0), dim=-1))
    return torch.stack(feats)


def check_logits(t, templates):
    batch = next(iter(t.test_loader))
    with torch.no_grad():
        image = F.normalize(t.clip_model.encode_image(batch["img"]).float(), dim=-1)
        expected = t.clip_model.logit_scale.exp() * image @ reference_classifier(t, templates).t()
        got = t.model_inference(batch["img"])
    assert got.shape == (batch["img"].shape[0], len(CLASSES))
    assert torch.allclose(got, expected, atol=1e-3, rtol=1e-4)


def test_zeroshot_eval_only_matches_open_clip_and_records(tmp_path, color_root):
    out = tmp_path / "zs"
    t = run_main("ZeroshotCLIP", color_root, out, eval_only=True, config_file="configs/trainers/ZeroshotCLIP/vit_b16.yaml")
    assert t.templates() == ["a photo of a {} thing."]  # the dataset object's own template
    assert t.get_model_names() == []  # nothing registered, nothing the engine could switch or save
    check_logits(t, t.templates())
    doc = read_results(out)
    assert doc["run"]["trainer"] == "ZeroshotCLIP" and doc["run"]["dataset"] == "TrainerTestColors"
    assert doc["run"]["num_shots"] == 4 and doc["run"]["seed"] == 1 and doc["run"]["engine"] in ("builtin", "dassl")
    assert doc["run"]["config"] == "vit_b16" and doc["run"]["eval_only"] is True
    (evaluation,) = doc["evaluations"]
    assert (evaluation["split"], evaluation["classes"], evaluation["epoch"]) == ("test", "all", 0)
    m = evaluation["metrics"]
    assert m["total"] == 4 * len(CLASSES) and m["accuracy"] == pytest.approx(100.0 * m["correct"] / m["total"])
    assert m["error_rate"] == pytest.approx(100.0 - m["accuracy"])
    assert not (out / "tensorboard").exists()  # eval-only writes no training artefacts


def test_zeroshot2_ensembles_templates_without_accumulating(tmp_path, color_root):
    from shipclip.datasets.templates import IMAGENET_TEMPLATES_SELECT

    first = run_main("ZeroshotCLIP2", color_root, tmp_path / "a", no_train=True)
    second = run_main("ZeroshotCLIP2", color_root, tmp_path / "b", no_train=True)
    expected = list(IMAGENET_TEMPLATES_SELECT) + ["a photo of a {} thing."]
    assert first.templates() == expected and second.templates() == expected  # no growth across instances
    check_logits(second, expected)


def test_zeroshot_train_only_evaluates(tmp_path, color_root):
    out = tmp_path / "train"
    t = run_main("ZeroshotCLIP", color_root, out, opts=["OPTIM.MAX_EPOCH", "3"])
    evaluations = read_results(out)["evaluations"]
    assert [e["split"] for e in evaluations] == ["test"]
    assert not (out / "prompt_learner").exists() and t.get_model_names() == []
    assert "Finish training" in (out / "log.txt").read_text()

"""ClipTrainer: joint-evaluation arithmetic, features, label spaces, checkpoints, precision, results.

Runs use the colour dataset (``color_root`` fixture) and a tiny random backbone through
``shipclip_testing.runs.run_main`` (``train.py``'s in-process ``main``).
"""
import os

import numpy as np
import pytest
import torch

from shipclip_testing.fake_datasets import COLOR_CLASSES as CLASSES
from shipclip_testing.runs import read_results, run_main


def manual_per_class_mean(y_true, y_pred, classes):
    accs = []
    for c in classes:
        idx = [i for i, t in enumerate(y_true) if t == c]
        if idx:
            accs.append(100.0 * sum(y_pred[i] == c for i in idx) / len(idx))
    return sum(accs) / len(accs) if accs else 0.0


# ------------------------------------------------------------------------------- arithmetic
def test_joint_accuracy_matches_per_class_means():
    from shipclip.trainers.base import harmonic_mean, joint_accuracy

    names = ["a", "b_x", "c", "d"]
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3]
    y_pred = [0, 1, 0, 1, 3, 2, 0, 2, 2, 0]
    out = joint_accuracy(torch.tensor(y_true), torch.tensor(y_pred), names, seen=["a", "b x"], unseen=["c", "d"])
    seen = manual_per_class_mean(y_true, y_pred, [0, 1])  # (2/3 + 1/2) / 2
    unseen = manual_per_class_mean(y_true, y_pred, [2, 3])  # (3/4 + 0) / 2
    assert out["seen"] == pytest.approx(seen) and out["seen"] == pytest.approx(100 * (2 / 3 + 1 / 2) / 2)
    assert out["unseen"] == pytest.approx(unseen) and out["unseen"] == pytest.approx(37.5)
    assert out["harmonic"] == pytest.approx(2 * seen * unseen / (seen + unseen))
    assert (out["num_seen_classes"], out["num_unseen_classes"]) == (2, 2)
    assert harmonic_mean(0.0, 0.0) == 0.0 and harmonic_mean(50.0, 100.0) == pytest.approx(200 / 3)


def test_joint_accuracy_skips_classes_without_samples_and_rejects_overlap():
    from shipclip.trainers.base import joint_accuracy

    out = joint_accuracy([0, 0, 2], [0, 1, 2], ["a", "b", "c"], seen=["a", "b"], unseen=["c"])
    assert out["seen"] == pytest.approx(50.0) and out["num_seen_classes"] == 1  # "b" has no test image
    assert out["unseen"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="both seen and unseen"):
        joint_accuracy([0], [0], ["a"], seen=["a"], unseen=["a"])


# ------------------------------------------------------------------------- built trainers
@pytest.fixture(scope="module")
def zs_trainer(color_root, tmp_path_factory):
    return run_main("ZeroshotCLIP", color_root, tmp_path_factory.mktemp("zs_base"), no_train=True)


def test_encode_images_normalises_and_cached_batches_pass_through(zs_trainer):
    batch = next(iter(zs_trainer.test_loader))
    raw = zs_trainer.encode_images(batch["img"], normalize=False)
    ref = zs_trainer.clip_model.encode_image(batch["img"]).float()
    assert raw.dtype == torch.float32 and raw.shape == (batch["img"].shape[0], zs_trainer.dim("embed_dim"))
    assert torch.allclose(raw, ref, atol=1e-5)
    normed = zs_trainer.encode_images(batch["img"])
    assert torch.allclose(normed.norm(dim=-1), torch.ones(len(normed)), atol=1e-5)
    # A batch from a cached source says so ("feature"): its features are only normalised.
    feats, labels = zs_trainer.batch_features({"feature": raw, "label": batch["label"]})
    assert torch.allclose(feats, normed, atol=1e-6) and torch.equal(labels, batch["label"])
    feats, _ = zs_trainer.batch_features(batch)
    assert torch.allclose(feats, normed, atol=1e-6)
    with pytest.raises(KeyError, match="'img' .* or 'feature'"):
        zs_trainer.batch_features({"label": batch["label"]})


def test_augmented_views_are_seeded_passes_of_the_train_transform(color_root, tmp_path):
    t = run_main("ZeroshotCLIP", color_root, tmp_path / "zs", no_train=True,
                 opts=["INPUT.TRANSFORMS", "['random_resized_crop', 'random_flip', 'normalize']"])
    views, labels = t.augmented_features(2)
    items = t.dm.dataset.train_x
    assert views.shape == (2, len(items), t.dim("embed_dim")) and labels.tolist() == [d.label for d in items]
    # Independently: two passes over an unshuffled augmenting loader under the run's seed.
    loader = t.data.image_loader(items, is_train=True)
    with torch.random.fork_rng():
        torch.manual_seed(int(t.cfg.SEED))
        passes = [torch.cat([t.encode_images(b["img"]) for b in loader]) for _ in range(2)]
    assert torch.allclose(views, torch.stack(passes), atol=1e-5)
    assert not torch.allclose(passes[0], passes[1], atol=1e-3)  # two different augmentations
    assert t.data.views("train", 2) is t.data.views("train", 2)  # encoded once per run


def test_split_features_use_the_test_transform(zs_trainer):
    feats, labels = zs_trainer.split_features("val")
    items = zs_trainer.dm.dataset.val
    expected = torch.cat([zs_trainer.encode_images(b["img"]) for b in zs_trainer.data.image_loader(items, False)])
    assert torch.allclose(feats, expected, atol=1e-5) and labels.tolist() == [d.label for d in items]
    with pytest.raises(ValueError, match="one .*view"):
        zs_trainer.data.views("val", 2)


def test_label_spaces_and_label_map(zs_trainer):
    t = zs_trainer
    assert t.get_train_classnames() == list(CLASSES) == t.get_eval_classnames()
    assert t.label_map(t.dm.dataset.test, list(CLASSES)) is None  # labels already index the list
    mapping = t.label_map(t.dm.dataset.test, list(reversed(CLASSES)))
    assert mapping.tolist() == [5, 4, 3, 2, 1, 0]
    with pytest.raises(ValueError, match="not in the evaluation label space"):
        t.label_map(t.dm.dataset.test, ["red"])


def test_load_model_errors_name_the_file(tmp_path, color_root):
    t = run_main("CoOp", color_root, tmp_path / "out", no_train=True, opts=["TRAINER.COOP.N_CTX", "2"])
    with pytest.raises(FileNotFoundError, match="model.pth.tar-7"):
        t.load_model(str(tmp_path / "out"), epoch=7)
    # A checkpoint without val_result (Dassl's load_model crashes on it) loads fine.
    t.save_model(0, str(tmp_path / "ckpt"))
    t.prompt_learner.ctx.data.zero_()
    t.load_model(str(tmp_path / "ckpt"))  # no model-best: the pointer file names the last checkpoint
    assert t.prompt_learner.ctx.abs().sum() > 0 and t.model_epoch() == 1


def test_fp16_on_cpu_warns_and_runs_in_fp32(tmp_path, color_root):
    with pytest.warns(UserWarning, match="fp32"):
        t = run_main("CoOp", color_root, tmp_path / "out", opts=["TRAINER.COOP.PREC", "fp16", "TRAINER.COOP.N_CTX", "2",
                                                                  "OPTIM.MAX_EPOCH", "1"])
    assert t.precision == "fp32" and t.requested_precision == "fp16"
    assert t.clip_model.visual.conv1.weight.dtype == torch.float32
    assert t.prompt_learner.ctx.dtype == torch.float32
    evaluations = read_results(tmp_path / "out")["evaluations"]
    assert [e["split"] for e in evaluations] == ["test"] and np.isfinite(evaluations[0]["metrics"]["accuracy"])


def test_bad_precision_is_named(tmp_path, color_root):
    with pytest.raises(ValueError, match="TRAINER.COOP.PREC"):
        run_main("CoOp", color_root, tmp_path / "out", no_train=True, opts=["TRAINER.COOP.PREC", "fp8"])


@pytest.mark.parametrize("subsample", ["all", "new"])
def test_joint_evaluation_reports_seen_unseen_harmonic(tmp_path, color_root, subsample):
    out = tmp_path / "out"
    t = run_main("ZeroshotCLIP", color_root, out, eval_only=True,
                 opts=["TEST.JOINT", "True", "DATASET.SUBSAMPLE_CLASSES", subsample])
    assert t.get_eval_classnames() == list(CLASSES)  # the joint label space, whatever the subset
    y_true, y_pred = [], []
    offset = 0 if subsample == "all" else 3  # "new" relabels from 0; the joint space does not
    with torch.no_grad():
        for batch in t.test_loader:
            y_true += (batch["label"] + offset).tolist()
            y_pred += t.model_inference(batch["img"]).argmax(1).tolist()
    doc = read_results(out)
    (evaluation,) = doc["evaluations"]
    m = evaluation["metrics"]
    assert evaluation["classes"] == "joint" and evaluation["split"] == "test"
    assert m["total"] == len(y_true) and m["correct"] == sum(a == b for a, b in zip(y_true, y_pred))
    assert m["seen"] == pytest.approx(manual_per_class_mean(y_true, y_pred, [0, 1, 2]))
    assert m["unseen"] == pytest.approx(manual_per_class_mean(y_true, y_pred, [3, 4, 5]))
    s, u = m["seen"], m["unseen"]
    assert m["harmonic"] == pytest.approx(2 * s * u / (s + u) if s + u else 0.0)
    assert m["accuracy"] == pytest.approx(100.0 * m["correct"] / m["total"])


def test_joint_evaluation_needs_class_sets(zs_trainer):
    class Plain:
        classnames = list(CLASSES)

    dm = zs_trainer.dm
    zs_trainer.dm = type("DM", (), {"dataset": Plain()})()
    try:
        with pytest.raises(AttributeError, match="TEST.JOINT"):
            zs_trainer.joint_class_sets()
    finally:
        zs_trainer.dm = dm


def test_feature_cache_serves_the_same_features(tmp_path, color_root):
    plain = run_main("ZeroshotCLIP", color_root, tmp_path / "plain", eval_only=True)
    cache_opts = ["FEATURES.CACHE", "True", "FEATURES.DIR", str(tmp_path / "features"), "FEATURES.TRAIN_VIEWS", "1"]
    cached = run_main("ZeroshotCLIP", color_root, tmp_path / "cached", eval_only=True, opts=cache_opts)
    batch = next(iter(cached.test_loader))
    assert "img" not in batch and batch["feature"].shape == (8, cached.dim("embed_dim"))  # features, said so
    assert read_results(tmp_path / "cached")["evaluations"][0]["metrics"] == \
        read_results(tmp_path / "plain")["evaluations"][0]["metrics"]
    plain_batch = next(iter(plain.test_loader))
    with torch.no_grad():
        assert torch.allclose(cached.logits_from_features(cached.batch_features(batch)[0]),
                              plain.model_inference(plain_batch["img"]), atol=1e-4)
    entries = sorted((tmp_path / "features").iterdir())
    assert len(entries) == 3  # train, val and test
    stamps = [os.stat(e / "features.pt").st_mtime_ns for e in entries]
    again = run_main("ZeroshotCLIP", color_root, tmp_path / "again", eval_only=True, opts=cache_opts)
    assert again.data.identity == cached.data.identity
    assert again.data.image_passes == 0  # everything read back
    assert sorted((tmp_path / "features").iterdir()) == entries  # reused, not rebuilt
    assert [os.stat(e / "features.pt").st_mtime_ns for e in entries] == stamps


def test_coop_trains_on_cached_features(tmp_path, color_root):
    opts = ["FEATURES.CACHE", "True", "FEATURES.DIR", str(tmp_path / "features"), "FEATURES.TRAIN_VIEWS", "2",
            "OPTIM.MAX_EPOCH", "2", "TRAINER.COOP.N_CTX", "2"]
    t = run_main("CoOp", color_root, tmp_path / "out", opts=opts)
    dataset = t.train_loader_x.dataset
    assert dataset.features.shape[:2] == (2, len(t.dm.dataset.train_x))
    first, last = (type(dataset)(dataset.data, dataset.features, seed=dataset.seed) for _ in range(2))
    last.set_epoch(1)
    assert not torch.equal(first.view_of, last.view_of)
    assert torch.equal(dataset.view_of, last.view_of)  # the last epoch drew its own views
    (evaluation,) = read_results(tmp_path / "out")["evaluations"]
    assert evaluation["epoch"] == 2 and evaluation["metrics"]["total"] == 4 * len(CLASSES)


def test_fp16_loss_scale_is_saved_with_the_checkpoint_and_restored_on_resume(tmp_path, color_root, capsys):
    from shipclip.trainers.base import GRAD_SCALER_FILE

    out = tmp_path / "out"
    t = run_main("CoOp", color_root, out, opts=["OPTIM.MAX_EPOCH", "1", "TRAINER.COOP.N_CTX", "2"])
    assert t.scaler is None and not (out / GRAD_SCALER_FILE).exists()  # fp32 on CPU: no scaler, no file
    # What an fp16 run on CUDA holds: a scaler whose scale has come down from its initial value.
    t.scaler = torch.amp.GradScaler("cpu", init_scale=65536.0)
    t.scaler.scale(torch.ones(1))
    t.scaler.update(new_scale=128.0)
    t.save_model(0, str(out))
    assert (out / GRAD_SCALER_FILE).is_file()

    t.scaler = torch.amp.GradScaler("cpu", init_scale=65536.0)  # a fresh process resuming the run
    assert t.resume_model_if_exist(str(out)) == 1
    assert t.scaler.get_scale() == 128.0
    assert f"Restored the fp16 loss scale (128) from {out / GRAD_SCALER_FILE}" in capsys.readouterr().out

    # A scaler file of another epoch (e.g. a run killed between the two writes) is not applied.
    saved = torch.load(out / GRAD_SCALER_FILE, weights_only=False)
    torch.save({**saved, "epoch": 5}, out / GRAD_SCALER_FILE)
    t.scaler = torch.amp.GradScaler("cpu", init_scale=65536.0)
    assert t.resume_model_if_exist(str(out)) == 1
    assert t.scaler.get_scale() == 65536.0
    assert "is from epoch 5, not 1: the loss scale starts afresh" in capsys.readouterr().out

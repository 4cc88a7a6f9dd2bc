"""Tip-Adapter(-F): the alpha/beta search, the cache as a checkpoint, label spaces, fine-tuning."""
import pytest
import torch
import torch.nn.functional as F

from shipclip_testing.fake_datasets import COLOR_CLASSES as CLASSES
from shipclip_testing.runs import read_results, run_main

BASE, NEW = list(CLASSES[:3]), list(CLASSES[3:])
TIP_CFG = "configs/trainers/TipAdapter/vit_b16.yaml"
TIPF_CFG = "configs/trainers/TipAdapterF/vit_b16.yaml"
TIP_OPTS = ["TRAINER.TIP.AUGMENT_EPOCH", "2", "TRAINER.TIP.SEARCH_SCALE", "[50, 50]",
            "TRAINER.TIP.SEARCH_STEP", "[12, 8]"]


def brute_force(clip_logits, affinity, values, labels, scale, steps):
    """Every (beta, alpha) of Tip-Adapter's grid, beta outer; the first best wins."""
    best = None
    for i in range(steps[0]):
        beta = 0.1 + i * (scale[0] - 0.1) / steps[0]
        for j in range(steps[1]):
            alpha = 0.1 + j * (scale[1] - 0.1) / steps[1]
            logits = clip_logits + alpha * torch.exp(-beta * (1 - affinity)) @ values
            acc = (logits.argmax(1) == labels).float().mean().item() * 100
            if best is None or acc > best[2] + 1e-9:
                best = (alpha, beta, acc)
    return best


def test_search_grid_is_tip_adapters():
    from shipclip.trainers.tip_adapter import search_grid

    assert search_grid(7, 4) == pytest.approx([0.1, 0.1 + 6.9 / 4, 0.1 + 2 * 6.9 / 4, 0.1 + 3 * 6.9 / 4])
    with pytest.raises(ValueError, match="SEARCH_STEP"):
        search_grid(3, 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_search_returns_the_brute_force_best(seed):
    from shipclip.trainers.tip_adapter import one_hot_values, search_alpha_beta

    g = torch.Generator().manual_seed(seed)
    n, n_cache, c, d = 60, 15, 5, 16
    f = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    keys = F.normalize(torch.randn(n_cache, d, generator=g), dim=-1)
    names = [f"c{i % c}" for i in range(n_cache)]
    values = one_hot_values(names, [f"c{i}" for i in range(c)])
    clip_logits = 10 * torch.randn(n, c, generator=g)
    labels = torch.randint(c, (n,), generator=g)
    scale, steps = [9.0, 6.0], [15, 7]
    alpha, beta, acc = search_alpha_beta(clip_logits, f @ keys.t(), values, labels, scale, steps, verbose=False)
    ref_alpha, ref_beta, ref_acc = brute_force(clip_logits, f @ keys.t(), values, labels, scale, steps)
    assert (alpha, beta) == pytest.approx((ref_alpha, ref_beta)) and acc == pytest.approx(ref_acc)


def test_values_ignore_entries_outside_the_label_space():
    from shipclip.trainers.tip_adapter import one_hot_values

    v = one_hot_values(["red", "blue", "dark_green", "red"], ["blue", "dark green"])
    assert v.tolist() == [[0, 0], [1, 0], [0, 1], [0, 0]]


def test_cache_state_round_trip_resizes_in_place():
    from shipclip.trainers.tip_adapter import TipCache

    keys = F.normalize(torch.randn(7, 12), dim=-1)
    saved = TipCache(12, keys, ["a"] * 3 + ["b"] * 4, alpha=2.5, beta=3.5).state_dict()
    empty = TipCache(12)
    param = empty.adapter.weight
    optim = torch.optim.AdamW(empty.parameters(), lr=0.1)
    empty.load_state_dict(saved)
    assert empty.adapter.weight is param and torch.equal(param, keys)  # same Parameter: the optimizer still owns it
    assert empty.classnames == ["a"] * 3 + ["b"] * 4 and empty.num_entries == 7
    assert (float(empty.alpha), float(empty.beta)) == (2.5, 3.5)
    param.sum().backward()
    optim.step()  # works on the resized parameter
    with pytest.raises(ValueError, match="one class name per entry"):
        empty.set_entries(keys, ["a"])


@pytest.fixture(scope="module")
def tip_base(color_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("tip_base")
    t = run_main("TipAdapter", color_root, out, config_file=TIP_CFG,
                 opts=["DATASET.SUBSAMPLE_CLASSES", "base"] + TIP_OPTS)
    return t, out


def test_training_free_run_builds_cache_and_searches_on_val(tip_base):
    t, out = tip_base
    train_x = t.dm.dataset.train_x
    assert t.tip.num_entries == len(train_x) == 4 * len(BASE)
    assert t.tip.classnames == [t.dm.dataset.lab2cname[d.label] for d in train_x]
    assert torch.allclose(t.tip.keys.norm(dim=-1), torch.ones(len(train_x)), atol=1e-5)
    # The searched pair is the brute-force best on the validation features.
    feats, labels = t.validation_features()
    clip_logits = 100 * feats @ t.clip_weights(BASE).t()
    scale = [float(s) for s in t.cfg.TRAINER.TIP.SEARCH_SCALE]
    ref = brute_force(clip_logits, feats @ t.tip.keys.t(), t.cache_values(BASE), labels, scale,
                      list(t.cfg.TRAINER.TIP.SEARCH_STEP))
    assert (float(t.tip.alpha), float(t.tip.beta)) == pytest.approx(ref[:2], rel=1e-6)
    # Logits follow Tip-Adapter's formula.
    batch = next(iter(t.test_loader))
    with torch.no_grad():
        f = t.encode_images(batch["img"])
        expected = 100 * f @ t.clip_weights(BASE).t() + float(t.tip.alpha) * torch.exp(
            -float(t.tip.beta) * (1 - f @ t.tip.keys.t())) @ t.cache_values(BASE)
        assert torch.allclose(t.model_inference(batch["img"]), expected, atol=1e-4)
    assert (out / "tip_cache" / "model.pth.tar-1").is_file()
    (evaluation,) = read_results(out)["evaluations"]
    assert (evaluation["split"], evaluation["classes"], evaluation["epoch"]) == ("test", "base", 1)


def test_eval_only_reloads_cache_and_new_classes_get_zero_shot(tip_base, color_root, tmp_path):
    trained, base_out = tip_base
    same = run_main("TipAdapter", color_root, tmp_path / "base_again", eval_only=True, model_dir=base_out,
                    config_file=TIP_CFG, opts=["DATASET.SUBSAMPLE_CLASSES", "base"] + TIP_OPTS)
    assert torch.equal(same.tip.keys, trained.tip.keys) and same.tip.classnames == trained.tip.classnames
    assert float(same.tip.alpha) == float(trained.tip.alpha) and float(same.tip.beta) == float(trained.tip.beta)
    assert read_results(tmp_path / "base_again")["evaluations"][0]["metrics"] == \
        read_results(base_out)["evaluations"][0]["metrics"]

    t = run_main("TipAdapter", color_root, tmp_path / "new", eval_only=True, model_dir=base_out, config_file=TIP_CFG,
                 opts=["DATASET.SUBSAMPLE_CLASSES", "new"] + TIP_OPTS)
    assert t.cache_values(NEW).abs().sum() == 0  # base entries are not in the new label space
    batch = next(iter(t.test_loader))
    with torch.no_grad():
        f = t.encode_images(batch["img"])
        assert torch.allclose(t.model_inference(batch["img"]), 100 * f @ t.clip_weights(NEW).t(), atol=1e-5)
    (evaluation,) = read_results(tmp_path / "new")["evaluations"]
    assert evaluation["classes"] == "new" and evaluation["epoch"] == 1


def test_no_validation_split_means_no_search(tip_base):
    t = tip_base[0]
    alpha, beta, val = float(t.tip.alpha), float(t.tip.beta), t.dm.dataset._val
    t.dm.dataset._val = []
    try:
        assert t.search_hparams() is None
    finally:
        t.dm.dataset._val = val
    assert (float(t.tip.alpha), float(t.tip.beta)) == (alpha, beta)


def test_tip_adapter_f_selects_on_val_and_eval_only_reproduces(color_root, tmp_path):
    out = tmp_path / "tipf"
    t = run_main("TipAdapterF", color_root, out, config_file=TIPF_CFG,
                 opts=TIP_OPTS + ["OPTIM.MAX_EPOCH", "2", "TEST.FINAL_MODEL", "best_val", "TRAINER.TIP.LR", "0.01"])
    assert t.tip.adapter.weight.requires_grad and t.LR_STEP == "iter"
    assert t.sched.last_epoch == 2 * len(t.train_loader_x)  # cosine stepped every iteration
    assert (out / "tip_cache" / "model-best.pth.tar").is_file() and (out / "tip_cache" / "model.pth.tar-2").is_file()
    evaluations = read_results(out)["evaluations"]
    assert [e["split"] for e in evaluations].count("val") >= 1  # selection used val ...
    test = [e for e in evaluations if e["split"] == "test"]
    assert len(test) == 1  # ... and test was evaluated once, after selection
    again = run_main("TipAdapterF", color_root, tmp_path / "again", eval_only=True, model_dir=out, config_file=TIPF_CFG,
                     opts=TIP_OPTS)
    assert torch.equal(again.tip.keys, t.tip.keys)
    assert (float(again.tip.alpha), float(again.tip.beta)) == (float(t.tip.alpha), float(t.tip.beta))
    assert read_results(tmp_path / "again")["evaluations"][0]["metrics"] == test[0]["metrics"]


def test_tip_adapter_f_loss_falls_and_keys_move(color_root, tmp_path):
    t = run_main("TipAdapterF", color_root, tmp_path / "out", no_train=True,
                 opts=TIP_OPTS + ["TRAINER.TIP.LR", "0.001", "TRAINER.TIP.INIT_ALPHA", "20.0", "TRAINER.TIP.INIT_BETA", "5.0"])
    t.build_cache()
    init = t.tip.keys.detach().clone()
    feats, labels = t.split_features("test")  # held-out images of the same classes
    t.set_model_mode("train")
    losses = []
    for _ in range(20):
        loss, logits = t.compute_loss(feats, labels)
        t.model_backward_and_update(loss)
        losses.append(loss.item())
    with torch.no_grad():
        loss, logits = t.compute_loss(feats, labels)
    assert loss.item() < 0.7 * losses[0]
    assert (logits.argmax(1) == labels).float().mean().item() > 2.0 / len(CLASSES)
    assert not torch.equal(t.tip.keys, init)

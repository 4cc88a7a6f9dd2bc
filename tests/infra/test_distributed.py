"""Multi-process data parallel of the built-in engine (torchrun, gloo on CPU, two processes).

The end-to-end tests launch ``torch.distributed.run --nproc_per_node 2`` once (a worker script
that checks the communication helpers, then runs ``train.main`` for the tiny linear trainer and a
tiny CoOp) and compare with single-process runs in this process: batch ``2B`` in one process must
give the weights of batch ``B`` in each of two processes. The other tests fake a rank in-process.
"""
import json
import os
import subprocess
import sys
import types

import pytest
import torch

from shipclip.infra import distributed
from shipclip.engine.data import build_data_loader, build_transform
from shipclip.engine.data.samplers import DistributedShardSampler, RandomSampler, SequentialSampler

pytestmark = pytest.mark.slow  # starts torchrun process groups

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH = 4  # per process in the two-process run; the single-process reference uses 2 * BATCH

WORKER = r'''
"""One rank of the two-process check: helpers first (results to JSON), then two training runs."""
import json
import importlib.util
import os
import sys
import types

import torch
from torch import nn

spec = json.loads(sys.argv[1])
sys.path.insert(0, spec["repo"])
import shipclip.backend  # noqa: E402
import train  # noqa: E402
from shipclip.infra import distributed as D  # noqa: E402
from shipclip.engine.trainer import TrainerBase  # noqa: E402

from shipclip_testing.engine_components import make_test_components  # noqa: E402

make_test_components(shipclip.backend)

D.setup_distributed(types.SimpleNamespace(USE_CUDA=False))
rank = D.get_rank()
out = {"rank": rank, "world": D.get_world_size(), "backend": torch.distributed.get_backend()}

m = nn.Module()
m.a, m.b = nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(2, 2))
m.c, m.d = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(1))
m.a.grad = torch.full((3,), float(rank + 1))
m.b.grad = torch.arange(4.0).view(2, 2) * (rank + 1)
if rank == 0:
    m.c.grad = torch.tensor([2.0, 4.0])  # rank 1 has none: it counts as zero there
D.all_reduce_gradients([m])
out["grads"] = {k: None if p.grad is None else p.grad.tolist() for k, p in m.named_parameters()}

torch.manual_seed(100 + rank)
lin = nn.Linear(3, 2)
lin.register_buffer("count", torch.tensor([rank + 5]))
D.broadcast_modules([lin])
out["broadcast"] = {k: v.tolist() for k, v in lin.state_dict().items()}

out["seed_unseeded"], out["seed_fixed"] = D.shared_seed(-1), D.shared_seed(5)

calls = []
def evaluate(x):
    calls.append(x)
    D.barrier()  # rank 0 alone is here: a save's barrier must not wait for the others
    return 10 * rank + D.broadcast_object(x)
out["main_result"], out["main_calls"] = D.run_on_main_process(evaluate)(7), calls

def failing():
    raise ValueError("boom")
try:
    D.run_on_main_process(failing)()
except Exception as exc:
    out["failure"] = f"{type(exc).__name__}: {exc}"

trainer = TrainerBase()
model = nn.Linear(2, 1)
optim = torch.optim.SGD(model.parameters(), lr=0.1)
trainer.register_model("m", model, optim)
model(torch.ones(1, 2)).sum().backward()
try:
    optim.step()
    out["unsynced_step"] = "stepped"
except RuntimeError as exc:
    out["unsynced_step"] = str(exc)
torch.manual_seed(0)
model.reset_parameters()
trainer.model_backward_and_update(model(torch.full((1, 2), float(rank + 1))).sum())
out["synced_weight"] = model.weight.tolist()

with open(os.path.join(spec["checks"], f"rank{rank}.json"), "w") as f:
    json.dump(out, f)

for argv in spec["runs"]:
    train.main(train.build_parser().parse_args(argv))
D.cleanup_distributed()
'''


# ------------------------------------------------------------------------------------ helpers
def linear_argv(data_root, cfg_file, output_dir, batch, flags=(), opts=()):
    return ["--root", str(data_root), "--config-file", str(cfg_file), "--output-dir", str(output_dir),
            "--seed", "3", *flags, "DATALOADER.TRAIN_X.BATCH_SIZE", str(batch), "VERBOSE", "False", *opts]


def coop_argv(data_root, cfg_file, output_dir, batch, backbone, flags=(), opts=()):
    return linear_argv(data_root, cfg_file, output_dir, batch, flags=["--trainer", "CoOp", *flags], opts=[
        "MODEL.BACKBONE.NAME", str(backbone), "MODEL.BACKBONE.PRETRAINED", "none", "INPUT.SIZE", "(32, 32)",
        "TRAINER.COOP.N_CTX", "4", "TRAINER.COOP.PREC", "fp32", "OPTIM.MAX_EPOCH", "2", *opts])


def cache_opts(folder):
    """The feature cache on, with two augmented (flipped) views per training image."""
    return ["FEATURES.CACHE", "True", "FEATURES.DIR", str(folder), "FEATURES.TRAIN_VIEWS", "2",
            "INPUT.TRANSFORMS", "['random_flip', 'normalize']"]


def run_in_process(argv):
    """``train.main`` here, with stdout restored afterwards (main tees it into log.txt)."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    import shipclip.backend
    import train

    from shipclip_testing.engine_components import make_test_components

    make_test_components(shipclip.backend)
    stdout = sys.stdout
    try:
        return train.main(train.build_parser().parse_args(argv))
    finally:
        if sys.stdout is not stdout:
            sys.stdout.close()
            sys.stdout = stdout


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def state(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    """One torchrun launch with two CPU processes (gloo); returns the folders it wrote."""
    from shipclip_testing.engine_components import tiny_cfg_yaml
    from shipclip_testing.fake_datasets import write_tiny_image_dataset
    from shipclip_testing.models import write_tiny_config

    root = tmp_path_factory.mktemp("ddp")
    write_tiny_image_dataset(root / "data")
    cfg_file = root / "tiny.yaml"
    cfg_file.write_text(tiny_cfg_yaml())
    backbone = write_tiny_config(str(root / "backbones"), "vit")
    (root / "checks").mkdir()
    worker = root / "worker.py"
    worker.write_text(WORKER)
    spec = {"repo": REPO, "checks": str(root / "checks"), "runs": [
        linear_argv(root / "data", cfg_file, root / "dist_linear", BATCH),
        coop_argv(root / "data", cfg_file, root / "dist_coop", BATCH, backbone),
        coop_argv(root / "data", cfg_file, root / "dist_coop_cached", BATCH, backbone, opts=cache_opts(root / "features")),
    ]}
    env = dict(os.environ, SHIP_ENGINE="builtin", OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(worker),
         json.dumps(spec)], cwd=str(root), env=env, capture_output=True, text=True, timeout=240)
    error = result.stderr[result.stderr.find("Traceback"):] if "Traceback" in result.stderr else result.stderr
    assert result.returncode == 0, result.stdout[-3000:] + error[:6000]
    checks = [json.loads((root / "checks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    return types.SimpleNamespace(root=root, cfg_file=cfg_file, backbone=backbone, stdout=result.stdout,
                                 checks=checks)


# ----------------------------------------------------------------------- two real processes
def test_communication_helpers_across_two_processes(ddp):
    rank0, rank1 = ddp.checks
    assert (rank0["rank"], rank1["rank"], rank0["world"], rank0["backend"]) == (0, 1, 2, "gloo")
    for check in ddp.checks:
        grads = check["grads"]
        assert grads["a"] == [1.5, 1.5, 1.5]  # mean of 1 and 2
        assert grads["b"] == [[0.0, 1.5], [3.0, 4.5]]
        assert grads["c"] == [1.0, 2.0]  # rank 1 had no gradient: its share is zero
        assert grads["d"] is None  # no rank had one: the optimizer must still skip it
    assert rank1["broadcast"] == rank0["broadcast"] and rank0["broadcast"]["count"] == [5]
    assert rank0["seed_unseeded"] == rank1["seed_unseeded"] >= 0
    assert rank0["seed_fixed"] == rank1["seed_fixed"] == 5
    assert rank0["main_result"] == rank1["main_result"] == 7  # rank 0's value everywhere
    assert rank0["main_calls"] == [7] and rank1["main_calls"] == []  # only rank 0 ran it
    assert rank0["failure"] == "ValueError: boom"
    assert rank1["failure"].startswith("RuntimeError") and "failed on rank 0" in rank1["failure"]
    for check in ddp.checks:
        assert "sync_gradients" in check["unsynced_step"]
    # One synced step: the input is 1 on rank 0 and 2 on rank 1, so the averaged gradient is 1.5.
    torch.manual_seed(0)
    reference = torch.nn.Linear(2, 1)
    expected = (reference.weight.detach() - 0.1 * 1.5).tolist()
    assert rank0["synced_weight"] == rank1["synced_weight"]
    assert torch.allclose(torch.tensor(rank0["synced_weight"]), torch.tensor(expected), atol=1e-6)


def test_two_processes_train_like_one_with_twice_the_batch(ddp, tmp_path):
    reference = tmp_path / "single"
    run_in_process(linear_argv(ddp.root / "data", ddp.cfg_file, reference, 2 * BATCH))
    single, dist = state(reference / "linear" / "model.pth.tar-3"), state(ddp.root / "dist_linear" / "linear" / "model.pth.tar-3")
    untrained = run_in_process(linear_argv(ddp.root / "data", ddp.cfg_file, tmp_path / "untrained", 2 * BATCH,
                                           flags=["--no-train"])).model.state_dict()
    for key in single:
        assert torch.allclose(dist[key], single[key], atol=1e-6), key
    assert (single["1.weight"] - untrained["1.weight"]).abs().max() > 1e-2  # training moved the weights
    # Rank 0 alone writes: the same files as one process, one log, one training printed.
    assert files_under(ddp.root / "dist_linear") == files_under(reference)
    log = (ddp.root / "dist_linear" / "log.txt").read_text()
    assert log.count("Finish training") == 1 and "Distributed data parallel: 2 processes" in log
    assert "epoch [3/3] batch [2/2]" in log  # 18 images, 8 per step: 2 steps per epoch, as in one process


def test_two_process_coop_matches_one_process(ddp, tmp_path):
    reference = tmp_path / "single_coop"
    run_in_process(coop_argv(ddp.root / "data", ddp.cfg_file, reference, 2 * BATCH, ddp.backbone))
    single = state(reference / "prompt_learner" / "model.pth.tar-2")
    dist = state(ddp.root / "dist_coop" / "prompt_learner" / "model.pth.tar-2")
    untrained = run_in_process(coop_argv(ddp.root / "data", ddp.cfg_file, tmp_path / "untrained", 2 * BATCH,
                                         ddp.backbone, flags=["--no-train"])).prompt_learner.ctx.detach()
    # Through a (tiny) text transformer batch-size-dependent kernels leave ~1e-6 of float noise.
    assert torch.allclose(dist["ctx"], single["ctx"], rtol=0, atol=1e-5)
    assert (single["ctx"] - untrained).abs().max() > 1e-3  # training moved the context
    assert files_under(ddp.root / "dist_coop") == files_under(reference)
    doc = json.loads((ddp.root / "dist_coop" / "results.json").read_text())
    assert [e["split"] for e in doc["evaluations"]] == ["test"]  # recorded once, by rank 0
    ours = json.loads((reference / "results.json").read_text())["evaluations"][0]["metrics"]
    assert doc["evaluations"][0]["metrics"]["total"] == ours["total"] == 9
    assert ddp.stdout.count("Finish training") == 3  # one per run: rank 1 prints nothing


def test_two_process_coop_on_cached_features_matches_one_process(ddp, tmp_path):
    """The shard sampler applies to cached features too: each rank reads its share of every global batch."""
    reference = tmp_path / "single_coop_cached"
    features = ddp.root / "features"
    entries = sorted(p.name for p in features.iterdir())
    assert len(entries) == 3  # train (2 views), val, test: built once, by rank 0
    run_in_process(coop_argv(ddp.root / "data", ddp.cfg_file, reference, 2 * BATCH, ddp.backbone,
                             opts=cache_opts(features)))
    assert sorted(p.name for p in features.iterdir()) == entries  # the one-process run read the same entries
    single = state(reference / "prompt_learner" / "model.pth.tar-2")
    dist = state(ddp.root / "dist_coop_cached" / "prompt_learner" / "model.pth.tar-2")
    uncached = state(ddp.root / "dist_coop" / "prompt_learner" / "model.pth.tar-2")
    assert torch.allclose(dist["ctx"], single["ctx"], rtol=0, atol=1e-5)
    assert not torch.allclose(dist["ctx"], uncached["ctx"], rtol=0, atol=1e-4)  # the flipped views mattered
    assert files_under(ddp.root / "dist_coop_cached") == files_under(reference)


# ------------------------------------------------------------------------ sampler (no processes)
def global_batches(order, batch):
    return [order[i:i + batch] for i in range(0, len(order) - batch + 1, batch)]


@pytest.mark.parametrize("n,world,batch", [(18, 2, 4), (40, 3, 4), (17, 2, 8), (7, 2, 4), (1, 2, 4)])
def test_shards_rebuild_the_single_process_batches(n, world, batch):
    data = list(range(n))
    torch.manual_seed(11)
    base = RandomSampler(data)
    shards = [DistributedShardSampler(base, batch, world, r) for r in range(world)]
    for shard in shards:
        shard.set_epoch(2)
    per_rank = [list(s) for s in shards]
    assert len({len(p) for p in per_rank}) == 1 and len(per_rank[0]) == len(shards[0])
    base.set_epoch(2)
    order = list(base)
    if n >= world * batch:  # whole global batches, in the order of one process with batch world*batch
        single = global_batches(order, world * batch)
        assert len(per_rank[0]) == batch * len(single)
        for t, expected in enumerate(single):
            assert sum((p[t * batch:(t + 1) * batch] for p in per_rank), []) == expected
    else:  # one partial global batch, padded by wrapping so each rank has ceil(n / world)
        share = -(-n // world)
        assert [len(p) for p in per_rank] == [share] * world
        assert sum(per_rank, []) == (order * world)[:share * world]
        assert set(sum(per_rank, [])) == set(data)


def test_shard_epochs_follow_the_base_sampler():
    data = list(range(24))
    torch.manual_seed(5)
    shard = DistributedShardSampler(RandomSampler(data), 3, 2, 1)
    shard.set_epoch(0)
    first = list(shard)
    assert list(shard) != first  # without set_epoch the next pass is the next epoch
    shard.set_epoch(0)
    assert list(shard) == first  # an epoch's order is a function of (seed, epoch): resumable
    sequential = DistributedShardSampler(SequentialSampler(data), 3, 2, 1)
    assert list(sequential) == [3, 4, 5, 9, 10, 11, 15, 16, 17, 21, 22, 23]


def test_shard_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="rank must be in"):
        DistributedShardSampler(SequentialSampler(range(4)), 2, 2, 2)
    with pytest.raises(ValueError, match="batch_size"):
        DistributedShardSampler(SequentialSampler(range(4)), 0, 2, 0)
    assert len(DistributedShardSampler(SequentialSampler([]), 2, 2, 0)) == 0


# ----------------------------------------------------------------------- faked ranks in-process
def fake_rank(monkeypatch, rank, world=2, broadcast=None):
    monkeypatch.setattr(distributed, "is_distributed", lambda: True)
    monkeypatch.setattr(distributed, "get_world_size", lambda: world)
    monkeypatch.setattr(distributed, "get_rank", lambda: rank)
    monkeypatch.setattr(distributed, "broadcast_object", broadcast or (lambda obj, src=0: obj))


def test_training_loaders_split_each_global_batch(tiny_cfg, tiny_data_root, monkeypatch):
    from shipclip_testing.fake_datasets import TINY_FOLDER, TINY_SPLIT_FILE
    from shipclip.engine import Datum, read_json

    folder = os.path.join(str(tiny_data_root), TINY_FOLDER)
    items = [Datum(impath=os.path.join(folder, "images", rel), label=label, classname=name)
             for rel, label, name in read_json(os.path.join(folder, TINY_SPLIT_FILE))["train"]]
    tfm = build_transform(tiny_cfg, is_train=False)

    def paths(loader):
        loader.sampler.set_epoch(1)
        return [list(batch["impath"]) for batch in loader]

    torch.manual_seed(4)
    single = paths(build_data_loader(tiny_cfg, "RandomSampler", items, batch_size=8, tfm=tfm, is_train=True))
    seeds = {}
    shards = []
    for rank in (0, 1):
        # Rank 1's own draw differs; the seed it gets from rank 0 makes the global order the same.
        def broadcast(obj, src=0, rank=rank):
            return seeds.setdefault("seed", obj)
        fake_rank(monkeypatch, rank, broadcast=broadcast)
        torch.manual_seed(4 + rank)
        loader = build_data_loader(tiny_cfg, "RandomSampler", items, batch_size=4, tfm=tfm, is_train=True)
        assert isinstance(loader.sampler, DistributedShardSampler) and not loader.drop_last
        shards.append(paths(loader))
        # Evaluation loaders stay whole: rank 0 evaluates everything.
        test_loader = build_data_loader(tiny_cfg, "SequentialSampler", items, batch_size=4, tfm=tfm, is_train=False)
        assert isinstance(test_loader.sampler, SequentialSampler) and len(test_loader.dataset) == len(items)
    assert len(single) == len(shards[0]) == len(shards[1]) == 2  # 18 images: 2 global batches of 8
    for t, batch in enumerate(single):
        assert shards[0][t] + shards[1][t] == batch


def test_other_ranks_write_no_checkpoint_and_no_log(tmp_path, monkeypatch, capsys):
    from shipclip.engine import utils
    from shipclip.infra.checkpoint import save_checkpoint

    fake_rank(monkeypatch, 1)
    path = save_checkpoint({"state_dict": {"w": torch.ones(2)}, "epoch": 1}, tmp_path / "ckpt", is_best=True)
    assert path == os.path.join(str(tmp_path / "ckpt"), "model.pth.tar-1")
    assert not (tmp_path / "ckpt").exists()
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    assert utils.setup_logger(str(tmp_path / "logs")) is None
    print("from rank 1")
    sys.stdout = sys.stdout.console
    assert not (tmp_path / "logs").exists() and "from rank 1" not in capsys.readouterr().out

    fake_rank(monkeypatch, 0)
    save_checkpoint({"state_dict": {"w": torch.ones(2)}, "epoch": 1}, tmp_path / "ckpt")
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["checkpoint", "model.pth.tar-1"]


def test_setup_without_torchrun_does_nothing(monkeypatch):
    cfg = types.SimpleNamespace(USE_CUDA=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.setup_distributed(cfg) is None and not distributed.is_distributed()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.setup_distributed(cfg, engine="dassl") is None
    assert distributed.shared_seed(-1) == -1 and distributed.shared_seed(7) == 7
    assert distributed.default_device(False) == torch.device("cpu")
    assert distributed.run_on_main_process(lambda x: x + 1)(1) == 2


def test_setup_errors_say_what_to_do(monkeypatch):
    cfg = types.SimpleNamespace(USE_CUDA=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="SHIP_ENGINE=builtin"):
        distributed.setup_distributed(cfg, engine="dassl")
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="MASTER_ADDR.*torchrun"):
        distributed.setup_distributed(cfg)
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two'"):
        distributed.setup_distributed(cfg)
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "-3")
    with pytest.raises(ValueError, match=distributed.TIMEOUT_ENV):
        distributed._timeout()


def test_ranks_get_distinct_reproducible_random_streams(monkeypatch):
    draws = {}
    for rank in (0, 1, 1):
        fake_rank(monkeypatch, rank)
        torch.manual_seed(21)  # the shared per-epoch seed every rank starts from
        distributed.decorrelate_rngs()
        draw = torch.rand(4)
        if rank in draws:
            assert torch.equal(draws[rank], draw)  # a function of (seed, rank): resumable
        draws[rank] = draw
    assert not torch.equal(draws[0], draws[1])

"""Multi-process data parallel for the built-in engine: one process per device, launched by torchrun.

    torchrun --standalone --nproc_per_node 4 train.py --trainer CoOp ...

Every trainer of this project trains a small head on frozen CLIP features and calls it in its own
way, so the engine does not wrap models in ``DistributedDataParallel``. Instead:

* every rank builds the same run (same seed: the same few-shot split, the same initial weights,
  which ``before_train`` also broadcasts from rank 0);
* the training loader of each rank reads its own share of every global batch
  (``samplers.DistributedShardSampler``): with ``B`` images per process and ``N`` processes, a
  step sees ``N * B`` images, exactly the batches of a single process with batch ``N * B``;
* after ``backward`` the gradients of the registered models are averaged over the ranks
  (``all_reduce_gradients``), so every rank takes the same optimizer step;
* rank 0 alone evaluates, prints, and writes ``log.txt``, ``results.json``, TensorBoard files
  and checkpoints; the other ranks receive the evaluation result and wait at barriers.

Nothing here does anything in a plain one-process run: every helper falls back to the
single-process behaviour when no process group with more than one rank is initialised.
"""
import datetime
import functools
import os

import torch

__all__ = [
    "launched_world_size", "is_distributed", "get_world_size", "get_rank", "get_local_rank",
    "is_main_process", "setup_distributed", "cleanup_distributed", "default_device", "barrier",
    "broadcast_object", "shared_seed", "all_reduce_gradients", "broadcast_modules", "decorrelate_rngs",
    "run_on_main_process", "comm_device", "TIMEOUT_ENV",
]

TIMEOUT_ENV = "SHIPCLIP_DIST_TIMEOUT_MIN"
# Ranks other than 0 wait while rank 0 evaluates (a whole test set on one device), so the
# collective timeout is long; a crashed rank is caught by torchrun, which stops the others.
DEFAULT_TIMEOUT_MIN = 12 * 60
_REQUIRED_ENV = ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")

_state = {"control_group": None, "backend": None, "main_only": 0}  # main_only: depth inside run_on_main_process


def _dist():
    import torch.distributed as dist

    return dist


def launched_world_size():
    """``WORLD_SIZE`` from the environment torchrun sets (1 when not launched by torchrun)."""
    value = os.environ.get("WORLD_SIZE", "1").strip() or "1"
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"WORLD_SIZE={value!r} in the environment is not an integer.") from None


def is_distributed():
    """True when a process group with more than one rank is running."""
    dist = _dist()
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_world_size():
    return _dist().get_world_size() if is_distributed() else 1


def get_rank():
    return _dist().get_rank() if is_distributed() else 0


def get_local_rank():
    """This process's index on its machine (``LOCAL_RANK``); 0 outside a distributed run."""
    return int(os.environ.get("LOCAL_RANK", "0")) if is_distributed() else 0


def is_main_process():
    """Rank 0 (or a plain run): the process that prints and writes files."""
    return get_rank() == 0


def _timeout():
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return datetime.timedelta(minutes=DEFAULT_TIMEOUT_MIN)
    try:
        minutes = float(raw)
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV}={raw!r} is not a number of minutes.") from None
    if minutes <= 0:
        raise ValueError(f"{TIMEOUT_ENV}={raw!r} must be a positive number of minutes.")
    return datetime.timedelta(minutes=minutes)


def setup_distributed(cfg, engine="builtin"):
    """Join the process group torchrun describes; return this process's device (None if not launched so).

    Uses NCCL and ``cuda:LOCAL_RANK`` when CUDA is available and ``cfg.USE_CUDA`` is set, else gloo
    on the CPU. Idempotent: a second call (or a group created by the caller) is reused.
    """
    world_size = launched_world_size()
    if world_size <= 1:
        return None
    if engine != "builtin":
        raise RuntimeError(
            f"This run was launched with WORLD_SIZE={world_size} (torchrun), but the engine is {engine}: "
            "Dassl.pytorch has no multi-process training (its trainers only wrap models in nn.DataParallel). "
            "Set SHIP_ENGINE=builtin to use the built-in engine's distributed data parallel, or run one "
            "process per GPU as separate runs (CUDA_VISIBLE_DEVICES=<i> python train.py ...); see docs/MULTI_GPU.md."
        )
    dist = _dist()
    if not dist.is_available():
        raise RuntimeError(
            f"WORLD_SIZE={world_size} asks for distributed training, but this PyTorch build has no "
            "torch.distributed. Run a single process (python train.py ...) instead."
        )
    missing = [name for name in _REQUIRED_ENV if name not in os.environ]
    if missing:
        raise RuntimeError(
            f"WORLD_SIZE={world_size} is set but {', '.join(missing)} is not: launch with "
            "`torchrun --nproc_per_node N train.py ...`, which sets them, or unset WORLD_SIZE."
        )
    local_rank = int(os.environ["LOCAL_RANK"])
    use_cuda = bool(cfg.USE_CUDA) and torch.cuda.is_available()
    if use_cuda:
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise RuntimeError(
                f"LOCAL_RANK={local_rank} but only {count} GPU(s) are visible: use "
                f"--nproc_per_node <= {count} (one process per GPU) or set CUDA_VISIBLE_DEVICES."
            )
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        backend = "nccl" if use_cuda else "gloo"
        kwargs = {"device_id": device} if use_cuda else {}
        dist.init_process_group(backend=backend, init_method="env://", timeout=_timeout(), **kwargs)
    _state["backend"] = dist.get_backend()
    if _state["control_group"] is None and _state["backend"] != "gloo":
        # Barriers and small objects travel over gloo on the CPU, so waiting never occupies a GPU stream.
        _state["control_group"] = dist.new_group(backend="gloo", timeout=_timeout())
    return device


def cleanup_distributed():
    """Leave the process group (no-op when none is initialised)."""
    dist = _dist()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _state["control_group"] = None
    _state["backend"] = None


def default_device(use_cuda):
    """The device a trainer should use: ``cuda:LOCAL_RANK`` in a distributed CUDA run."""
    if use_cuda and torch.cuda.is_available():
        if is_distributed():
            return torch.device("cuda", get_local_rank())
        return torch.device("cuda")
    return torch.device("cpu")


def _control_group():
    return _state["control_group"]


def comm_device():
    """Where tensors must be for the default group's backend."""
    if _dist().get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier():
    """Wait for every rank (no-op in a plain run, and inside code that only rank 0 runs)."""
    if is_distributed() and not _state["main_only"]:
        _dist().barrier(group=_control_group())


def broadcast_object(obj, src=0):
    """Rank ``src``'s ``obj`` on every rank (picklable objects; no-op in a plain run and inside code
    that only rank 0 runs)."""
    if not is_distributed() or _state["main_only"]:
        return obj
    box = [obj]
    _dist().broadcast_object_list(box, src=src, group=_control_group())
    return box[0]


def shared_seed(seed):
    """``seed`` itself when it is fixed (>= 0); in a distributed run an unseeded one gets rank 0's draw.

    Every rank must build the same run (same few-shot sample, same initial weights), so a
    distributed run is always seeded. Returns -1 for an unseeded plain run.
    """
    seed = int(seed)
    if seed >= 0 or not is_distributed():
        return seed
    drawn = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
    return int(broadcast_object(drawn))


def _unique_parameters(modules):
    seen, params = set(), []
    for module in modules:
        for param in module.parameters():
            if param.requires_grad and id(param) not in seen:
                seen.add(id(param))
                params.append(param)
    return params


def all_reduce_gradients(modules):
    """Average the gradients of ``modules``' trainable parameters over the ranks, in place.

    A parameter without a gradient on some ranks counts as zero there (its share of the global
    mean loss is zero); it keeps ``grad = None`` only when no rank produced one, so optimizers
    skip it exactly as they would in one process.
    """
    if not is_distributed():
        return
    dist = _dist()
    params = _unique_parameters(modules)
    if not params:
        return
    device = comm_device()
    world = dist.get_world_size()
    has_grad = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
    dist.all_reduce(has_grad)
    groups = {}  # one flat buffer per dtype
    for param, count in zip(params, has_grad.tolist()):
        if count > 0:
            groups.setdefault(param.dtype, []).append(param)
    for dtype, members in groups.items():
        flat = torch.cat([
            (p.grad if p.grad is not None else torch.zeros_like(p)).detach().reshape(-1).to(device)
            for p in members
        ])
        dist.all_reduce(flat)
        flat.div_(world)
        offset = 0
        for p in members:
            numel = p.numel()
            grad = flat[offset:offset + numel].view_as(p).to(p.device)
            offset += numel
            if p.grad is None:
                p.grad = grad.clone()
            else:
                p.grad.copy_(grad)


@torch.no_grad()
def broadcast_modules(modules, src=0):
    """Copy rank ``src``'s parameters and buffers into every rank's ``modules`` (DDP's start)."""
    if not is_distributed():
        return
    dist = _dist()
    device = comm_device()
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            data = tensor.data
            if data.numel() == 0:
                continue
            buffer = data.to(device).contiguous()
            dist.broadcast(buffer, src=src)
            if buffer.data_ptr() != data.data_ptr():
                data.copy_(buffer)


def decorrelate_rngs():
    """Give every rank its own random stream for training (augmentation, dropout, loader workers).

    The ranks share one seed so that they build the same run; left as they are, rank ``r``'s
    ``k``-th image would get the same random crop or flip as every other rank's ``k``-th image.
    The new seed derives from the shared stream plus the rank, so a seeded run stays reproducible
    (and resumable: called at the start of every epoch, after any per-epoch reseed).
    """
    if not is_distributed():
        return
    import random

    import numpy as np

    base = int(torch.randint(0, 2**31 - 1, (1,)).item())
    seed = (base + 104729 * get_rank()) % (2**31 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def run_on_main_process(fn):
    """Wrap ``fn`` so that rank 0 alone runs it and every rank returns rank 0's result.

    Used for evaluation: rank 0 evaluates the whole split, prints and records it; the other ranks
    wait and get the same value, so decisions taken on it (best validation epoch) agree everywhere.
    If rank 0 fails, the other ranks raise too instead of waiting forever. Inside ``fn``, barriers
    and object broadcasts are local (the other ranks are not there to meet them), e.g. a save.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not is_distributed() or _state["main_only"]:
            return fn(*args, **kwargs)
        if is_main_process():
            _state["main_only"] += 1
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                _state["main_only"] -= 1
                broadcast_object(("error", f"{type(exc).__name__}: {exc}"))
                raise
            _state["main_only"] -= 1
            broadcast_object(("ok", result))
            return result
        status, value = broadcast_object(None)
        if status == "error":
            raise RuntimeError(f"{getattr(fn, '__qualname__', fn)} failed on rank 0 ({value}); see rank 0's log.")
        return value

    return wrapper

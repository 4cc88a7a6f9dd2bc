"""Trainer lifecycle with Dassl's classes, hook order, log lines and checkpoint layout.

``TrainerBase`` keeps the registered models/optimizers/schedulers and the train loop;
``SimpleTrainer`` adds the config-driven construction, resume, per-epoch checkpoints and testing;
``TrainerX`` runs an epoch over labelled data. Trainers written for Dassl (CoOp, CoCoOp, ...) run
unchanged on these classes.

Differences from Dassl, all deliberate: ``load_model`` accepts checkpoints without a
``val_result``; resume needs the ``checkpoint`` pointer in every model folder (a folder created
by a run killed before its first save is not a checkpoint) and restores the best validation
result; TensorBoard is used only when it imports; ``TrainerX.run_epoch`` calls
``sampler.set_epoch`` so the sampling order of an epoch survives a resume.

The three classes stay in one module (over the usual size), as in Dassl's own ``dassl/engine/trainer.py``:
the hook order they share is what compatibility is about, and it reads best side by side.

Multi-process runs (``torchrun``, see ``shipclip.infra.distributed``): ``model_backward_and_update``
averages the gradients of the registered models over the processes (``sync_gradients``; a trainer
with its own backward must call it before stepping, and a step without it raises);
``before_train`` gives every rank rank 0's weights; rank 0 alone evaluates (``test`` returns its
result everywhere), writes checkpoints and TensorBoard files, and the others wait at a barrier
after every save.
"""
import datetime
import functools
import os.path as osp
import time
from collections import OrderedDict

import numpy as np
import torch

from shipclip.infra import distributed
from shipclip.infra.checkpoint import load_checkpoint, resume_models, save_checkpoint
from shipclip.progress import progress_bar

from .data import DataManager
from .evaluation import build_evaluator
from .registry import Registry, check_availability
from .utils import AverageMeter, MetricMeter, mkdir_if_missing

__all__ = ["TRAINER_REGISTRY", "build_trainer", "TrainerBase", "SimpleTrainer", "TrainerX"]

TRAINER_REGISTRY = Registry("TRAINER")

BEST_MODEL_FILE = "model-best.pth.tar"


def build_trainer(cfg):
    """Instantiate the trainer registered under ``cfg.TRAINER.NAME`` with ``cfg``."""
    check_availability(cfg.TRAINER.NAME, TRAINER_REGISTRY.registered_names(), "trainer (--trainer / TRAINER.NAME)")
    if cfg.VERBOSE:
        print(f"Loading trainer: {cfg.TRAINER.NAME}")
    return TRAINER_REGISTRY.get(cfg.TRAINER.NAME)(cfg)


def _as_list(names):
    return [names] if isinstance(names, str) else list(names)


def _checkpoint_epoch_file(epoch):
    return f"model.pth.tar-{epoch}"


class TrainerBase:
    """Registered models, optimizers and schedulers, plus the generic train loop."""

    def __init__(self):
        self._models = OrderedDict()
        self._optims = OrderedDict()
        self._scheds = OrderedDict()
        self._writer = None
        self._grads_synced = set()  # models whose gradients were averaged since their last step

    # ----------------------------------------------------------------------------- registration
    def register_model(self, name="model", model=None, optim=None, sched=None):
        """Track ``model`` (and its optional optimizer/scheduler) for modes, lr steps and checkpoints."""
        if self.__dict__.get("_models") is None:
            raise AttributeError("Cannot register a model before TrainerBase.__init__() (call super().__init__()).")
        if name in self._models:
            raise KeyError(f'A model named "{name}" is already registered; use a different name.')
        self._models[name] = model
        self._optims[name] = optim
        self._scheds[name] = sched
        if optim is not None and distributed.is_distributed():
            optim.register_step_pre_hook(functools.partial(self._require_synced_gradients, name))

    def get_model_names(self, names=None):
        registered = list(self._models.keys())
        if names is None:
            return registered
        names = _as_list(names)
        for name in names:
            if name not in registered:
                raise KeyError(f'No model named "{name}" is registered. Registered: {registered}.')
        return names

    # ------------------------------------------------------------------------------ checkpoints
    def save_model(self, epoch, directory, is_best=False, val_result=None, model_name=""):
        """Write ``directory/<name>/model.pth.tar-<epoch+1>`` (or ``model_name``) for every model."""
        for name in self.get_model_names():
            optim, sched = self._optims[name], self._scheds[name]
            state = {
                "state_dict": self._models[name].state_dict(),
                "epoch": epoch + 1,
                "optimizer": optim.state_dict() if optim is not None else None,
                "scheduler": sched.state_dict() if sched is not None else None,
                "val_result": val_result,
            }
            save_checkpoint(state, osp.join(directory, name), is_best=is_best, model_name=model_name)
        distributed.barrier()  # rank 0 writes; nobody reads the files before they are complete

    def resume_model_if_exist(self, directory):
        """Resume every model from ``directory/<name>/checkpoint``; return the epoch to start at."""
        names = self.get_model_names()
        return resume_models(directory, {n: self._models[n] for n in names}, {n: self._optims[n] for n in names},
                             {n: self._scheds[n] for n in names})

    def load_model(self, directory, epoch=None):
        """Load ``model-best.pth.tar`` (or ``model.pth.tar-<epoch>``) into every registered model."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        model_file = BEST_MODEL_FILE if epoch is None else _checkpoint_epoch_file(epoch)
        for name in self.get_model_names():
            model_path = osp.join(directory, name, model_file)
            if not osp.exists(model_path):
                raise FileNotFoundError(
                    f'No model at "{model_path}". Check --model-dir and --load-epoch (saved epochs are the '
                    f'"model.pth.tar-<N>" files in {osp.join(directory, name)}).'
                )
            checkpoint = load_checkpoint(model_path)
            saved_epoch = checkpoint.get("epoch")
            val_result = checkpoint.get("val_result")
            note = f"epoch={saved_epoch}"
            if isinstance(val_result, (int, float)):
                note += f", val_result={val_result:.1f}"
            print(f"Load {model_path} to {name} ({note})")
            self._models[name].load_state_dict(checkpoint["state_dict"])

    # ------------------------------------------------------------------------------ model state
    def set_model_mode(self, mode="train", names=None):
        """``train()`` or ``eval()`` ("test"/"eval") on the registered models only."""
        if mode not in ("train", "test", "eval"):
            raise KeyError(f'Unknown model mode "{mode}"; use "train", "test" or "eval".')
        for name in self.get_model_names(names):
            if mode == "train":
                self._models[name].train()
            else:
                self._models[name].eval()

    def update_lr(self, names=None):
        for name in self.get_model_names(names):
            if self._scheds[name] is not None:
                self._scheds[name].step()

    def detect_anomaly(self, loss):
        if not torch.isfinite(loss).all():
            raise FloatingPointError("Loss is infinite or NaN!")

    # ------------------------------------------------------------------------------ tensorboard
    def init_writer(self, log_dir):
        """Start a TensorBoard writer when ``tensorboard`` is installed (optional dependency)."""
        if self.__dict__.get("_writer") is not None or not distributed.is_main_process():
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            print("TensorBoard is not installed: training curves are not logged (pip install tensorboard)")
            return
        mkdir_if_missing(log_dir)
        print(f"Initialize tensorboard (log_dir={log_dir})")
        self._writer = SummaryWriter(log_dir=log_dir)

    def close_writer(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write_scalar(self, tag, scalar_value, global_step=None):
        if self._writer is not None:
            self._writer.add_scalar(tag, scalar_value, global_step)

    # -------------------------------------------------------------------------------- the loop
    def train(self, start_epoch, max_epoch):
        """``before_train``; per epoch ``before_epoch``/``run_epoch``/``after_epoch``; ``after_train``."""
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        self.before_train()  # may move self.start_epoch (resume)
        for self.epoch in range(self.start_epoch, self.max_epoch):
            self.before_epoch()
            self.run_epoch()
            self.after_epoch()
        self.after_train()

    def before_train(self):
        pass

    def after_train(self):
        pass

    def before_epoch(self):
        pass

    def after_epoch(self):
        pass

    def run_epoch(self):
        raise NotImplementedError

    def test(self):
        raise NotImplementedError

    def parse_batch_train(self, batch):
        raise NotImplementedError

    def parse_batch_test(self, batch):
        raise NotImplementedError

    def forward_backward(self, batch):
        raise NotImplementedError

    def model_inference(self, input):
        raise NotImplementedError

    # ---------------------------------------------------------------------------- optimisation
    def model_zero_grad(self, names=None):
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].zero_grad()

    def model_backward(self, loss):
        self.detect_anomaly(loss)
        loss.backward()

    def model_update(self, names=None):
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].step()

    def sync_gradients(self, names=None):
        """Average the registered models' gradients over the processes (no-op in one process).

        Call it after ``backward`` and before the optimizer step; ``model_backward_and_update``
        does. With a batch of B per process and N processes, the result is the gradient of the
        mean loss over the N*B images.
        """
        names = self.get_model_names(names)
        if distributed.is_distributed():
            distributed.all_reduce_gradients([self._models[n] for n in names if self._models[n] is not None])
        self._grads_synced.update(names)

    def _require_synced_gradients(self, name, optimizer, args, kwargs):
        """Optimizer pre-step hook of distributed runs: a step on unsynced gradients would split the ranks."""
        if name not in self._grads_synced:
            raise RuntimeError(
                f'The optimizer of model "{name}" is stepping on gradients that were not averaged over the '
                f"{distributed.get_world_size()} processes: {type(self).__name__} must call "
                "self.sync_gradients() after backward() (model_backward_and_update() does it)."
            )
        self._grads_synced.discard(name)

    def model_backward_and_update(self, loss, names=None):
        self.model_zero_grad(names)
        self.model_backward(loss)
        self.sync_gradients(names)
        self.model_update(names)


class SimpleTrainer(TrainerBase):
    """Config-driven trainer: data, model, evaluator, resume, checkpoints and tests."""

    def __init__(self, cfg):
        super().__init__()
        self.check_cfg(cfg)  # before self.cfg exists, as in Dassl
        self.device = distributed.default_device(cfg.USE_CUDA)  # cuda:LOCAL_RANK under torchrun
        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR
        self.cfg = cfg
        self.build_data_loader()
        self.build_model()
        self.evaluator = build_evaluator(cfg, lab2cname=self.lab2cname)
        self.best_result = -np.inf
        if distributed.is_distributed():
            # Rank 0 evaluates (and records) the whole split; every rank gets its result.
            self.test = distributed.run_on_main_process(self.test)

    def check_cfg(self, cfg):
        """Hook to validate trainer-specific config keys."""
        pass

    def build_data_loader(self):
        dm = DataManager(self.cfg)
        self.train_loader_x = dm.train_loader_x
        self.train_loader_u = dm.train_loader_u
        self.val_loader = dm.val_loader
        self.test_loader = dm.test_loader
        self.num_classes = dm.num_classes
        self.num_source_domains = dm.num_source_domains
        self.lab2cname = dm.lab2cname
        self.dm = dm

    def build_model(self):
        raise NotImplementedError(
            f"{type(self).__name__} must override build_model(): the built-in engine has no generic "
            "backbone/head network (Dassl's SimpleNet)."
        )

    def train(self):
        super().train(self.start_epoch, self.max_epoch)

    def before_train(self):
        directory = self.cfg.RESUME or self.cfg.OUTPUT_DIR
        self.start_epoch = self.resume_model_if_exist(directory)
        if self.start_epoch > 0:
            self._restore_best_result(directory)
        if distributed.is_distributed():
            self._start_distributed()
        self.init_writer(osp.join(self.output_dir, "tensorboard"))
        self.time_start = time.time()

    def _start_distributed(self):
        """Same weights on every rank (rank 0's); ``run_epoch`` then gives each rank its own random stream."""
        distributed.broadcast_modules([m for m in self._models.values() if m is not None])
        world, per_process = distributed.get_world_size(), self.cfg.DATALOADER.TRAIN_X.BATCH_SIZE
        print(f"Distributed data parallel: {world} processes; {per_process} training images per process "
              f"and step, {world * per_process} in all (DATALOADER.TRAIN_X.BATCH_SIZE is per process)")

    def _restore_best_result(self, directory):
        """After a resume, keep comparing against the best validation result already saved."""
        if self.cfg.TEST.FINAL_MODEL != "best_val":
            return
        names = self.get_model_names()
        path = osp.join(directory, names[0], BEST_MODEL_FILE) if names else ""
        if path and osp.isfile(path):
            val_result = load_checkpoint(path).get("val_result")
            if isinstance(val_result, (int, float)):
                self.best_result = val_result

    def after_epoch(self):
        last_epoch = (self.epoch + 1) == self.max_epoch
        do_test = not self.cfg.TEST.NO_TEST
        freq = self.cfg.TRAIN.CHECKPOINT_FREQ
        meet_checkpoint_freq = freq > 0 and (self.epoch + 1) % freq == 0

        if do_test and self.cfg.TEST.FINAL_MODEL == "best_val":
            curr_result = self.test(split="val")
            if curr_result > self.best_result:
                self.best_result = curr_result
                self.save_model(self.epoch, self.output_dir, val_result=curr_result, model_name=BEST_MODEL_FILE)

        if meet_checkpoint_freq or last_epoch:
            self.save_model(self.epoch, self.output_dir)

    def after_train(self):
        print("Finish training")
        if not self.cfg.TEST.NO_TEST:
            if self.cfg.TEST.FINAL_MODEL == "best_val":
                print("Deploy the model with the best val performance")
                self.load_model(self.output_dir)
            else:
                print("Deploy the last-epoch model")
            self.test()
        elapsed = round(time.time() - getattr(self, "time_start", time.time()))
        print(f"Elapsed: {datetime.timedelta(seconds=elapsed)}")
        self.close_writer()

    @torch.no_grad()
    def test(self, split=None):
        """Evaluate on ``split`` (default ``TEST.SPLIT``; "val" only when a val loader exists)."""
        self.set_model_mode("eval")
        self.evaluator.reset()
        if split is None:
            split = self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            data_loader = self.val_loader
        else:
            split = "test"
            data_loader = self.test_loader
        print(f"Evaluate on the *{split}* set")
        for batch in progress_bar(data_loader):
            input, label = self.parse_batch_test(batch)
            output = self.model_inference(input)
            self.evaluator.process(output, label)
        results = self.evaluator.evaluate()
        for key, value in results.items():
            self.write_scalar(f"{split}/{key}", value, self.epoch)
        return list(results.values())[0]

    def model_inference(self, input):
        return self.model(input)

    def parse_batch_test(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def get_current_lr(self, names=None):
        """Learning rate of param group 0 of the first registered optimizer (0.0 when there is none)."""
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                return self._optims[name].param_groups[0]["lr"]
        return 0.0


class TrainerX(SimpleTrainer):
    """Trains on labelled data (``train_loader_x``) only."""

    def run_epoch(self):
        self.set_model_mode("train")
        losses = MetricMeter()
        batch_time = AverageMeter()
        data_time = AverageMeter()
        self.num_batches = len(self.train_loader_x)
        sampler = getattr(self.train_loader_x, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)
        # Multi-process runs: after any per-epoch reseed in before_epoch (identical on every rank),
        # each rank gets its own augmentation stream, still a function of (seed, epoch, rank).
        distributed.decorrelate_rngs()
        print_freq = self.cfg.TRAIN.PRINT_FREQ

        end = time.time()
        for self.batch_idx, batch in enumerate(self.train_loader_x):
            data_time.update(time.time() - end)
            loss_summary = self.forward_backward(batch)
            batch_time.update(time.time() - end)
            losses.update(loss_summary)

            if (self.batch_idx + 1) % print_freq == 0 or self.num_batches < print_freq:
                remaining = self.num_batches - self.batch_idx - 1
                remaining += (self.max_epoch - self.epoch - 1) * self.num_batches
                eta = datetime.timedelta(seconds=int(batch_time.avg * remaining))
                print(" ".join([
                    f"epoch [{self.epoch + 1}/{self.max_epoch}]",
                    f"batch [{self.batch_idx + 1}/{self.num_batches}]",
                    f"time {batch_time.val:.3f} ({batch_time.avg:.3f})",
                    f"data {data_time.val:.3f} ({data_time.avg:.3f})",
                    f"{losses}",
                    f"lr {self.get_current_lr():.4e}",
                    f"eta {eta}",
                ]))

            n_iter = self.epoch * self.num_batches + self.batch_idx
            for name, meter in losses.meters.items():
                self.write_scalar("train/" + name, meter.avg, n_iter)
            self.write_scalar("train/lr", self.get_current_lr(), n_iter)
            end = time.time()

    def parse_batch_train(self, batch):
        input = batch["img"].to(self.device)
        label = batch["label"].to(self.device)
        domain = batch["domain"].to(self.device)
        return input, label, domain

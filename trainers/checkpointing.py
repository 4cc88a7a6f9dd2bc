"""Checkpoints of the project's CLIP trainers: Dassl's layout, read by the project's loader under both engines.

* ``save_model`` writes the engine's checkpoints plus the fp16 loss scaler (``grad_scaler.pth``);
* ``resume_model_if_exist`` resumes through :func:`shipclip.infra.checkpoint.resume_models` (Dassl
  0.6's reader refuses Dassl's own run folders on torch >= 2.6) and restores the loss scale;
* ``load_model`` reads ``model-best.pth.tar`` or the last saved checkpoint, tolerates checkpoints
  without ``val_result``, drops dataset-specific entries (``filter_state_dict``) and names the file,
  the key and the setting to change when a checkpoint does not fit.
"""
import os
import os.path as osp

from shipclip.infra.checkpoint import load_checkpoint, resume_models
from shipclip.infra.distributed import is_main_process
from shipclip.infra.io import atomic_torch_save

__all__ = ["CheckpointMixin", "GRAD_SCALER_FILE"]

GRAD_SCALER_FILE = "grad_scaler.pth"  # fp16 loss-scaler state, next to the model folders of a run


class CheckpointMixin:
    """Saving, resuming and loading the registered models of a :class:`ClipTrainer`."""

    def save_model(self, epoch, directory, is_best=False, val_result=None, model_name=""):
        """The engine's checkpoints, plus the fp16 loss scaler (``grad_scaler.pth``) when one runs.

        Without it a resumed fp16 run would restart the loss scale at its initial 65536 and skip
        steps until the scale has come down again.
        """
        super().save_model(epoch, directory, is_best=is_best, val_result=val_result, model_name=model_name)
        scaler = getattr(self, "scaler", None)  # set by build_model; absent on a bare trainer
        if scaler is not None and is_main_process():
            atomic_torch_save({"epoch": epoch + 1, "state_dict": scaler.state_dict()},
                              osp.join(directory, GRAD_SCALER_FILE))

    def resume_model_if_exist(self, directory):
        """Resume through the project's checkpoint reader under either engine.

        Dassl 0.6's reader calls ``torch.load`` with torch's default ``weights_only=True`` (torch >= 2.6),
        which refuses run folders written by Dassl itself (its warmup scheduler pickles a scheduler
        object); ours reads them and maps their scheduler state onto ours. The fp16 loss scaler is
        restored too when it was saved at the epoch resumed from.
        """
        names = self.get_model_names()
        start = resume_models(directory, {n: self._models[n] for n in names}, {n: self._optims[n] for n in names},
                              {n: self._scheds[n] for n in names})
        path = osp.join(directory, GRAD_SCALER_FILE)
        scaler = getattr(self, "scaler", None)
        if start > 0 and scaler is not None and osp.isfile(path):
            saved = load_checkpoint(path)
            if saved.get("epoch") == start:
                scaler.load_state_dict(saved["state_dict"])
                print(f"Restored the fp16 loss scale ({scaler.get_scale():g}) from {path}")
            else:
                print(f"{path} is from epoch {saved.get('epoch')}, not {start}: the loss scale starts afresh")
        return start

    def filter_state_dict(self, name, state_dict):
        """Drop entries that must come from the current dataset rather than the checkpoint."""
        return state_dict, ()

    def load_model(self, directory, epoch=None):
        """Load every registered model from ``directory/<name>/``.

        ``epoch=None`` reads ``model-best.pth.tar`` and, when there is none, the checkpoint the
        ``checkpoint`` pointer file names (the last one saved). Tolerates checkpoints without
        ``val_result`` and drops entries ``filter_state_dict`` marks as dataset-specific.
        """
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        names = self.get_model_names()
        if not names:
            print(f"{type(self).__name__} has no trained weights; nothing to load from {directory}")
            return
        for name in names:
            path = self._checkpoint_path(directory, name, epoch)
            checkpoint = load_checkpoint(path)
            state_dict = checkpoint["state_dict"] if "state_dict" in checkpoint else checkpoint
            state_dict = {k[7:] if k.startswith("module.") else k: v for k, v in state_dict.items()}
            state_dict, dropped = self.filter_state_dict(name, dict(state_dict))
            self._check_shapes(name, path, state_dict)
            val = checkpoint.get("val_result")
            val = f", val_result = {val:.1f}" if isinstance(val, (int, float)) else ""
            print(f'Loading weights to {name} from "{path}" (epoch = {checkpoint.get("epoch", "?")}{val})')
            missing, unexpected = self._models[name].load_state_dict(state_dict, strict=False)
            if isinstance(checkpoint.get("epoch"), int):
                self._model_epoch = checkpoint["epoch"]
            missing = [k for k in missing if k not in set(dropped)]
            if missing or unexpected:
                raise RuntimeError(
                    f'Checkpoint "{path}" does not match {name} of {type(self).__name__}: missing keys {missing}, '
                    f"unexpected keys {list(unexpected)}. It was saved by another trainer: evaluate it with the "
                    "--trainer and --config-file of the run that saved it."
                )

    @staticmethod
    def _checkpoint_path(directory, name, epoch):
        folder = osp.join(directory, name)
        if epoch is not None:
            path = osp.join(folder, f"model.pth.tar-{epoch}")
        else:
            path = osp.join(folder, "model-best.pth.tar")
            pointer = osp.join(folder, "checkpoint")
            if not osp.exists(path) and osp.exists(pointer):
                with open(pointer) as f:
                    path = osp.join(folder, f.read().strip())
                print(f"No model-best.pth.tar in {folder}; loading the last saved checkpoint {osp.basename(path)}")
        if not osp.exists(path):
            prefix = "model.pth.tar-"
            saved = sorted(int(f[len(prefix):]) for f in (os.listdir(folder) if osp.isdir(folder) else [])
                           if f.startswith(prefix) and f[len(prefix):].isdigit())
            found = (f"saved epochs there: {', '.join(map(str, saved))}" if saved else
                     f'"{folder}" holds no saved model: give the --output-dir of a finished training run')
            raise FileNotFoundError(
                f'Model not found at "{path}". Check --model-dir and --load-epoch ({found}).'
            )
        return path

    def _check_shapes(self, name, path, state_dict):
        own = self._models[name].state_dict()
        for key, value in state_dict.items():
            if key in own and hasattr(value, "shape") and tuple(own[key].shape) != tuple(value.shape):
                raise ValueError(
                    f'Checkpoint "{path}": {name}.{key} has shape {tuple(value.shape)} but the current model '
                    f"expects {tuple(own[key].shape)}. {self.shape_mismatch_hint(name, key)}"
                )

    def shape_mismatch_hint(self, name, key):
        return "The checkpoint was trained with different settings (backbone, context length or class count)."

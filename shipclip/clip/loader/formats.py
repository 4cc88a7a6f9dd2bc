"""Reading CLIP weights from the files users have: state dicts, safetensors, OpenAI's JIT archives.

Every format comes back as a plain state dict of tensors (a checkpoint's ``state_dict`` entry and
a ``module.`` prefix are unwrapped; OpenAI's metadata entries removed), with what the file was, so
the loader can tell OpenAI weights (which need QuickGELU) from others.
"""
import warnings
import zipfile

import torch

__all__ = ["OPENAI_METADATA_KEYS", "read_clip_state_dict"]

OPENAI_METADATA_KEYS = ("input_resolution", "context_length", "vocab_size")


def _is_torchscript(path):
    """TorchScript archives are zip files with a ``constants.pkl`` record (state dicts have none)."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("constants.pkl") for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def read_clip_state_dict(path):
    """Read CLIP weights from a state dict (.pt/.bin/.pth), .safetensors or an OpenAI JIT archive.

    Returns ``(state_dict, info)`` with ``info = {"format": "jit"|"state_dict"|"safetensors",
    "openai_metadata": bool}``. OpenAI's metadata entries (``input_resolution``, ...) are removed.
    """
    path = str(path)
    fmt = "safetensors" if path.endswith(".safetensors") else ("jit" if _is_torchscript(path) else "state_dict")
    try:
        if fmt == "safetensors":
            from safetensors.torch import load_file

            obj = load_file(path, device="cpu")
        elif fmt == "jit":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation notice
                obj = torch.jit.load(path, map_location="cpu").state_dict()
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        hint = ("the file pickles Python objects besides tensors; if you trust it, re-save just its state "
                "dict with torch.save(...)") if "Weights only load failed" in str(exc) else (
                "the file is damaged, incomplete, or not a PyTorch / safetensors checkpoint; download it "
                "again or point MODEL.BACKBONE.PRETRAINED to another file")
        raise RuntimeError(f"Could not read CLIP weights from {path}: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''} ({hint}).") from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"{path} does not hold a state dict (found {type(obj).__name__}); expected CLIP weights.")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"{path} is not a plain CLIP state dict: entry {bad[0]!r} is not a tensor.")
    sd = dict(obj)
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    metadata = any(k in sd for k in OPENAI_METADATA_KEYS)
    for key in OPENAI_METADATA_KEYS:
        sd.pop(key, None)
    return sd, {"format": fmt, "openai_metadata": metadata}

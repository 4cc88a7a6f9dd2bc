"""The one place that loads a CLIP backbone (open_clip underneath).

Why not call ``open_clip.create_model`` directly:

* CoOp configs name backbones OpenAI's way (``ViT-B/16``) and CoOp users keep OpenAI's JIT
  archives in ``~/.cache/clip``; open_clip neither accepts those names nor looks in that folder.
* OpenAI weights need QuickGELU. open_clip only warns for the ``openai`` tag and says nothing
  when the weights come from a file, which silently shifts every feature.
* Offline, open_clip lets huggingface_hub retry for about a minute before failing; here a
  missing file is reported at once, with the file to provide and where to put it.
* A checkpoint for another architecture should say so, not dump a ``load_state_dict`` error.

================  ===============================================================================
module            what it does
================  ===============================================================================
``names``         CoOp names <-> open_clip names, model-config JSON files, the tokenizer
``weights``       where a tag's weights are on this machine; the download policy and its errors
``formats``       state dicts, safetensors and OpenAI JIT archives -> one plain state dict
``create``        building an open_clip model without weights; which activation it uses
``architecture``  meta-device build and the wrong-architecture check (what a file looks like)
``load``          :func:`load_clip` / :func:`load_clip_from_cfg`: all of the above, in order
``sizes``         embed dim, widths, image size of a model; the ``INPUT.SIZE`` check
================  ===============================================================================

Every model leaves here frozen (``requires_grad_(False)``), in eval mode, on the asked device.
"""
from .architecture import describe_state_dict, skeleton
from .create import uses_quick_gelu
from .formats import OPENAI_METADATA_KEYS, read_clip_state_dict
from .load import LOAD_PRECISIONS, load_clip, load_clip_from_cfg
from .names import COOP_NAMES, get_tokenizer, normalize_model_name
from .sizes import check_input_size, model_dims
from .weights import ALLOW_DOWNLOAD_ENV, NO_WEIGHTS, OPENAI_FILES, WEIGHT_SUFFIXES, locate_pretrained

__all__ = [
    "COOP_NAMES", "OPENAI_FILES", "normalize_model_name", "load_clip", "load_clip_from_cfg",
    "get_tokenizer", "model_dims", "check_input_size", "locate_pretrained", "read_clip_state_dict",
    "describe_state_dict", "uses_quick_gelu", "skeleton",
    "OPENAI_METADATA_KEYS", "NO_WEIGHTS", "WEIGHT_SUFFIXES", "LOAD_PRECISIONS", "ALLOW_DOWNLOAD_ENV",
]

"""Which epoch an eval-only step loads, decided when the step starts (its model is trained by then).

LOADEP wins when set. Otherwise the last epoch named by ``<model_dir>/<model>/checkpoint`` is
loaded, except when a ``model-best.pth.tar`` exists: then ``--load-epoch`` is left out so the
best-on-validation model is loaded, as Dassl's ``load_model`` does.
"""
import glob
import os
import re

_POINTER = re.compile(r"^model\.pth\.tar-([0-9]+)$")


def load_epoch_args(model_dir, loadep=""):
    """``["--load-epoch", N]`` or ``[]`` for an eval-only step that loads ``model_dir``."""
    if loadep:
        return ["--load-epoch", loadep]
    epoch = None
    for pointer in sorted(glob.glob(os.path.join(glob.escape(model_dir), "*", "checkpoint"))):
        if not os.path.isfile(pointer):
            continue
        if os.path.isfile(os.path.join(os.path.dirname(pointer), "model-best.pth.tar")):
            return []
        with open(pointer, encoding="utf-8") as f:
            match = _POINTER.match(f.readline().strip())
        if match:
            epoch = match.group(1)
    return ["--load-epoch", epoch] if epoch is not None else []

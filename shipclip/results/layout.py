"""The output layout of the protocol scripts: protocol, dataset, trainer, config and seed from a path.

``scripts/*.sh`` write every run to a folder named after what it is (``<K>`` shots, ``<S>`` seed,
``<cfg>`` the trainer YAML stem)::

    base2new/train_base/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>   Base accuracy
    base2new/test_new/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>     New accuracy
    xd/train/<source>/shots_<K>/<trainer>/<cfg>/seed<S>                source model (+ its test)
    xd/train/<source>/shots_<K>/<trainer>/<cfg>/to_<target>/seed<S>    per-target model (SHIP)
    xd/test/<target>/shots_<K>/<trainer>/<cfg>/seed<S>                 target accuracy
    gzsl/train_seen/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>        trained on seen classes
    gzsl/test_joint/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>        U / S / H (joint label space)
    fewshot/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>                accuracy (K = 0: zero-shot)
    ablation/<variant>/base2new/...                                    base-to-new per variant

Runs stored elsewhere are listed as plain ``runs`` (grouped by the folder above ``seed<S>``).
"""
import os
import re
from pathlib import Path

__all__ = ["PROTOCOLS", "ROLE_CLASSES", "EVAL_ROLES", "parse_layout"]

PROTOCOLS = ("base2new", "ablation", "xd", "gzsl", "fewshot", "runs")

_LAYOUT_TAIL = (r"(?P<dataset>[^/]+)/shots_(?P<shots>\d+)/(?P<trainer>[^/]+)/(?P<config>[^/]+)"
                r"(?:/(?P<extra>.+?))?/seed(?P<seed>\d+)$")
_LAYOUTS = (
    ("ablation", re.compile(r"(?:^|/)ablation/(?P<variant>[^/]+)/base2new/(?P<role>train_base|test_new)/"
                            + _LAYOUT_TAIL)),
    ("base2new", re.compile(r"(?:^|/)base2new/(?P<role>train_base|test_new)/" + _LAYOUT_TAIL)),
    ("xd", re.compile(r"(?:^|/)xd/(?P<role>train|test)/" + _LAYOUT_TAIL)),
    ("gzsl", re.compile(r"(?:^|/)gzsl/(?P<role>train_seen|test_joint)/" + _LAYOUT_TAIL)),
    ("fewshot", re.compile(r"(?:^|/)fewshot/" + _LAYOUT_TAIL)),
)
# Which evaluation answers the protocol's question, and whether the run is eval-only by design.
ROLE_CLASSES = {"train_base": ("base",), "test_new": ("new",), "test_joint": ("joint",), "train_seen": ("base",)}
EVAL_ROLES = ("test_new", "test", "test_joint")


def parse_layout(run_dir):
    """Protocol, role, dataset, shots, trainer, config, seed (and variant / target) from a run's path.

    Returns None when the path does not follow the layout above.
    """
    path = Path(os.path.abspath(run_dir)).as_posix()
    for protocol, pattern in _LAYOUTS:
        match = pattern.search(path)
        if match is None:
            continue
        info = match.groupdict()
        extra = info.get("extra") or ""
        target = ""
        if protocol == "xd" and info["role"] == "train" and extra.startswith("to_") and "/" not in extra:
            target, extra = extra[3:], ""
        return {
            "protocol": protocol,
            "role": info.get("role") or "run",
            "variant": info.get("variant") or "",
            "dataset": info["dataset"],
            "shots": int(info["shots"]),
            "trainer": info["trainer"],
            "config": info["config"] + (f"/{extra}" if extra else ""),
            "seed": int(info["seed"]),
            "target": target,
        }
    return None

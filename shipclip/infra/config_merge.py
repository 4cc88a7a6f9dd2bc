"""Merging YAML files and ``KEY VALUE`` lists into a yacs config, with errors that explain bad keys and values.

Used under both engines: ``merge_from_file`` and ``merge_from_list`` work on any yacs ``CfgNode``
(ours or real Dassl's). They validate first and then let yacs merge, so yacs semantics
(``literal_eval`` of strings, list <-> tuple, ``new_allowed`` nodes) stay as they are, but a typo
fails with the full key, where it came from and the closest existing key instead of yacs' bare
``Non-existent config key``.
"""
import difflib
import os

import yaml
from yacs.config import CfgNode as CN

__all__ = ["merge_from_file", "merge_from_list"]

_YAML_EXTS = (".yaml", ".yml", "")
_PY_EXTS = (".py",)


def _all_keys(node, prefix=""):
    """Every full key of ``node``, groups included (``OPTIM`` and ``OPTIM.LR``)."""
    keys = []
    for k, v in node.items():
        full = f"{prefix}{k}"
        keys.append(full)
        if isinstance(v, CN):
            keys.extend(_all_keys(v, full + "."))
    return keys


def _suggest(full_key, root):
    """Closest existing keys: by the whole key, else by the last component anywhere in the tree."""
    keys = _all_keys(root)
    close = difflib.get_close_matches(full_key, keys, n=3, cutoff=0.6)
    if not close:
        leaf = full_key.rsplit(".", 1)[-1]
        leaves = {k: k.rsplit(".", 1)[-1] for k in keys}
        near = set(difflib.get_close_matches(leaf, list(leaves.values()), n=3, cutoff=0.75))
        close = [k for k, v in leaves.items() if v in near][:3]
    if not close:
        return ""
    return " Did you mean " + " or ".join(f'"{c}"' for c in close) + "?"


def _unknown_key(full_key, root, source):
    return KeyError(
        f'Unknown config key "{full_key}" (from {source}).{_suggest(full_key, root)} '
        "Fix the spelling, or declare the key (project keys live in shipclip/config.py) before merging."
    )


def _type_name(value):
    return "a group of keys (CfgNode)" if isinstance(value, CN) else type(value).__name__


def _check_type(value, original, full_key, source):
    """yacs' rule: same type, None on either side, or list <-> tuple; anything else is an error."""
    valid = (tuple, list, str, int, float, bool, type(None))
    if type(value) is type(original):
        return
    if (value is None and type(original) in valid) or (original is None and type(value) in valid):
        return
    if {type(value), type(original)} == {list, tuple}:
        return
    hint = ""
    if type(original) is float and type(value) is int:
        hint = f" Write it as a float, e.g. {float(value)!r}."
    elif type(original) is str:
        hint = " Quote it if it should be a string."
    elif not isinstance(original, CN):
        hint = f" Give a value of type {_type_name(original)}, like the default."
    raise ValueError(
        f'Config key "{full_key}" expects {_type_name(original)} (default {original!r}), '
        f"but {source} gives {value!r} ({_type_name(value)}).{hint}"
    )


def _validate_node(loaded, target, root, prefix, source):
    """Check ``loaded`` against ``target`` exactly as yacs will merge it, without changing anything."""
    for k, raw in loaded.items():
        full_key = f"{prefix}{k}"
        value = target._decode_cfg_value(raw)
        if k in target:
            _check_type(value, target[k], full_key, source)
            if isinstance(value, CN):
                _validate_node(value, target[k], root, full_key + ".", source)
        elif target.is_new_allowed() or root.key_is_deprecated(full_key) or root.key_is_renamed(full_key):
            continue  # yacs accepts, skips or explains these itself
        else:
            raise _unknown_key(full_key, root, source)


def merge_from_file(cfg, path):
    """Merge a YAML (or yacs ``.py``) config file into ``cfg`` with clear errors.

    Raises ``FileNotFoundError`` for a missing file, ``ValueError`` for unreadable YAML or a
    wrongly typed value, ``KeyError`` for an unknown key (with the closest existing key).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Config file not found: "{path}". Check the path given to --config-file / '
                                "--dataset-config-file.")
    ext = os.path.splitext(path)[1].lower()
    if ext in _PY_EXTS:
        with open(path, "r") as f:
            loaded = type(cfg).load_cfg(f)
    elif ext in _YAML_EXTS:
        with open(path, "r", encoding="utf-8") as f:
            try:
                data = yaml.safe_load(f)
            except yaml.YAMLError as exc:
                raise ValueError(f'Config file "{path}" is not valid YAML: {exc}') from exc
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError(
                f'Config file "{path}" must hold a mapping of KEY: value at the top level, '
                f"got {type(data).__name__}."
            )
        loaded = type(cfg)(data)
    else:
        raise ValueError(f'Config file "{path}" has extension "{ext}"; use .yaml or .yml.')
    _validate_node(loaded, cfg, cfg, "", f'config file "{path}"')
    cfg.merge_from_other_cfg(loaded)
    return cfg


def merge_from_list(cfg, opts):
    """Merge ``[KEY, VALUE, KEY, VALUE, ...]`` (trailing command-line options) into ``cfg``.

    Values that are strings go through ``literal_eval`` as in yacs (``"1e-5"`` -> float,
    ``"(224, 224)"`` -> tuple, ``base`` stays a string).
    """
    if not opts:
        return cfg
    opts = list(opts)
    if len(opts) % 2 != 0:
        raise ValueError(
            f"Command-line overrides must be KEY VALUE pairs, but got an odd number ({len(opts)}) of "
            f"items: {opts}. Check for a missing value or a stray word after the options."
        )
    source = "command line"
    for full_key, raw in zip(opts[0::2], opts[1::2]):
        if not isinstance(full_key, str):
            raise KeyError(f"Config key {full_key!r} (from {source}) must be a string like OPTIM.LR.")
        if cfg.key_is_deprecated(full_key) or cfg.key_is_renamed(full_key):
            continue  # yacs skips or explains these itself
        node = cfg
        parts = full_key.split(".")
        for part in parts[:-1]:
            if not isinstance(node, CN) or part not in node:
                raise _unknown_key(full_key, cfg, source)
            node = node[part]
        if not isinstance(node, CN) or parts[-1] not in node:
            raise _unknown_key(full_key, cfg, source)
        _check_type(cfg._decode_cfg_value(raw), node[parts[-1]], full_key, source)
    cfg.merge_from_list(opts)
    return cfg

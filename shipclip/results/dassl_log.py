"""Dassl ``log.txt`` parsing, for runs made with real Dassl's own trainers (no ``results.json``).

The rule is that of CoOp's ``parse_test_res.py``: after a stripped line equals ``Finish training``
(training logs) or ``=> result`` (eval-only logs), the last ``* accuracy: X%`` wins. The log prints
one or two decimals, so such runs carry that precision only.
"""
import re

from .record import INT_METRICS

__all__ = ["log_files", "parse_log", "parse_opts", "opt_value"]

_ACCURACY = re.compile(r"\* accuracy: ([\.\deE+-]+)%")
_OTHER_LINES = {
    "error_rate": re.compile(r"\* error: ([\.\deE+-]+)%"),
    "macro_f1": re.compile(r"\* macro_f1: ([\.\deE+-]+)%"),
    "total": re.compile(r"\* total: ([\d,]+)$"),
    "correct": re.compile(r"\* correct: ([\d,]+)$"),
}
_ARG_LINE = re.compile(r"^(\w+): (.*)$")


def log_files(names):
    """Dassl keeps an existing ``log.txt`` and names later logs ``log.txt-<timestamp>``: newest first."""
    stamped = sorted((n for n in names if n.startswith("log.txt-")), reverse=True)
    return stamped + (["log.txt"] if "log.txt" in names else [])


def parse_log(path, eval_only=None):
    """Parse one Dassl ``log.txt`` with the rule of CoOp's ``parse_test_res.py``.

    The end signal is ``Finish training`` for a training log and ``=> result`` for an eval-only log
    (``eval_only`` None: decided by the ``eval_only: True`` line Dassl's train.py prints among its
    arguments). After the signal, the last ``* accuracy: X%`` wins. Returns ``{"metrics": {...},
    "eval_only": bool, "args": {...}}`` or None when the log holds no final result.
    """
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = [line.strip() for line in fh]
    args = {}
    for line in lines:
        if line == "** Config **":
            break
        match = _ARG_LINE.match(line)
        if match and match.group(1) in ("trainer", "seed", "config_file", "dataset_config_file", "eval_only",
                                        "opts", "output_dir", "model_dir", "load_epoch", "backbone"):
            args[match.group(1)] = match.group(2)
    if eval_only is None:
        eval_only = args.get("eval_only") == "True"
    signal = "=> result" if eval_only else "Finish training"
    started = False
    metrics = {}
    for line in lines:
        if not started:
            started = line == signal
            continue
        match = _ACCURACY.search(line)
        if match:
            metrics["accuracy"] = float(match.group(1))
            continue
        for key, pattern in _OTHER_LINES.items():
            match = pattern.search(line)
            if match:
                text = match.group(1)
                metrics[key] = int(text.replace(",", "")) if key in INT_METRICS else float(text)
    if "accuracy" not in metrics:
        return None
    return {"metrics": metrics, "eval_only": eval_only, "args": args}


def parse_opts(opts):
    """A yacs opts list from the list itself or from the repr Dassl's train.py prints (``opts: [...]``)."""
    if isinstance(opts, str):
        return re.findall(r"'([^']*)'", opts)
    return [str(o) for o in (opts or [])]


def opt_value(opts, key):
    """Value following ``key`` in a yacs opts list (or its printed repr); None when absent."""
    opts = parse_opts(opts)
    for i in range(len(opts) - 1):
        if opts[i] == key:
            return opts[i + 1]
    return None

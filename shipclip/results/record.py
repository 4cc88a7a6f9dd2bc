"""The results format: the one place that writes and reads ``results.json``.

Every evaluation a trainer runs is recorded, at full precision, in ``<output_dir>/results.json``
(Dassl's log prints accuracy with one decimal, which is not enough to average seeds and compare
methods). The file is rewritten atomically (:func:`shipclip.infra.io.atomic_write`), so a crash
never leaves a half-written file. It holds no dates or wall-clock times (those go to the log), so
identical runs produce identical files::

    {"format": "shipclip-results", "version": 1,
     "run": {"trainer": "CoOp", "dataset": "OxfordPets", "backbone": "ViT-B/16", "weights": "openai",
             "num_shots": 16, "seed": 1, "subsample_classes": "base", "config": "vit_b16_ctxv1",
             "engine": "builtin", "eval_only": false, "model_dir": null, "load_epoch": null,
             "label_only": null, "opts": ["DATASET.NUM_SHOTS", "16", ...]},
     "evaluations": [{"split": "test", "epoch": 200, "classes": "base",
                      "metrics": {"accuracy": 95.12, "error_rate": 4.88, "macro_f1": 95.0,
                                  "total": 1881, "correct": 1789}}]}

Accuracies are percentages. A joint (generalized zero-shot) evaluation also carries ``seen``,
``unseen`` (per-class mean accuracies over the seen / unseen classes) and ``harmonic``.
Re-recording the same (split, classes, epoch) replaces that entry.
"""
import json
import math
import os
import time
import warnings

from .stats import harmonic_mean

__all__ = [
    "RESULTS_FILENAME", "FORMAT", "VERSION", "RUN_KEYS", "IDENTITY_KEYS", "SPLITS", "CLASSES", "METRIC_KEYS",
    "INT_METRICS", "ResultsFormatError", "record_evaluation", "load_results", "final_evaluation",
]

RESULTS_FILENAME = "results.json"
FORMAT = "shipclip-results"
VERSION = 1

RUN_KEYS = ("trainer", "dataset", "backbone", "weights", "num_shots", "seed", "subsample_classes", "config",
            "engine", "eval_only", "model_dir", "load_epoch", "label_only", "opts")
# Keys that identify a run: a results.json written by a run that differs in one of them is not
# extended but replaced (engine, opts, model_dir and load_epoch may change on a resume).
IDENTITY_KEYS = ("trainer", "dataset", "backbone", "weights", "num_shots", "seed", "subsample_classes", "config",
                 "eval_only", "label_only")
SPLITS = ("val", "test")
CLASSES = ("base", "new", "all", "joint")
METRIC_KEYS = ("accuracy", "error_rate", "macro_f1", "total", "correct", "seen", "unseen", "harmonic")
INT_METRICS = ("total", "correct")


class ResultsFormatError(ValueError):
    """A results.json that cannot be read (bad JSON, wrong format, invalid entries)."""


def _plain(value, where):
    """Convert to plain JSON data (tensors/numpy scalars via .item(), paths to str, tuples to lists)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value!r}; results.json only stores finite numbers.")
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if hasattr(value, "item") and callable(value.item):  # torch / numpy scalar
        return _plain(value.item(), where)
    raise TypeError(f"{where} has type {type(value).__name__} ({value!r}), which results.json cannot store.")


def _normalize_run(run):
    if not isinstance(run, dict):
        raise TypeError(f"run must be a dict of what identifies the run, got {type(run).__name__}.")
    run = _plain(run, "run")
    ordered = {key: run.get(key) for key in RUN_KEYS}
    for key in sorted(set(run) - set(RUN_KEYS)):
        ordered[key] = run[key]
    return ordered


def _number(value, where):
    value = _plain(value, where)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} must be a number, got {value!r}.")
    return value


def _normalize_evaluation(evaluation):
    if not isinstance(evaluation, dict):
        raise TypeError(f"evaluation must be a dict, got {type(evaluation).__name__}.")
    split = evaluation.get("split")
    if split not in SPLITS:
        raise ValueError(f"evaluation split {split!r} is not one of {SPLITS}.")
    classes = evaluation.get("classes")
    if classes not in CLASSES:
        raise ValueError(f"evaluation classes {classes!r} is not one of {CLASSES}.")
    epoch = _plain(evaluation.get("epoch"), "evaluation.epoch")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0):
        raise ValueError(f"evaluation epoch must be None or an int >= 0, got {epoch!r}.")
    metrics = evaluation.get("metrics")
    if not isinstance(metrics, dict) or "accuracy" not in metrics:
        raise ValueError(f"evaluation metrics must be a dict with at least 'accuracy', got {metrics!r}.")
    clean = {}
    for key in [k for k in METRIC_KEYS if k in metrics] + sorted(set(metrics) - set(METRIC_KEYS)):
        value = metrics[key]
        if key in METRIC_KEYS:
            value = _number(value, f"metrics.{key}")
            if key in INT_METRICS:
                if float(value) != int(value):
                    raise ValueError(f"metrics.{key} must be a whole count, got {value!r}.")
                value = int(value)
            else:
                value = float(value)
        else:
            value = _plain(value, f"metrics.{key}")
        clean[key] = value
    if classes == "joint":
        for key in ("seen", "unseen"):
            if key not in clean:
                raise ValueError(f"a joint evaluation needs metrics.{key} (per-class mean accuracy in percent).")
        if "harmonic" not in clean:
            clean["harmonic"] = harmonic_mean(clean["seen"], clean["unseen"])
    entry = {"split": split, "epoch": epoch, "classes": classes, "metrics": clean}
    for key in sorted(set(evaluation) - set(entry)):
        entry[key] = _plain(evaluation[key], f"evaluation.{key}")
    return entry


def _entry_key(entry):
    return entry["split"], entry["classes"], entry["epoch"]


def _entry_order(entry):
    epoch = entry["epoch"]
    return (epoch is None, epoch or 0, SPLITS.index(entry["split"]), CLASSES.index(entry["classes"]))


def _write_json_atomic(path, obj):
    """Write JSON next to ``path`` and move it into place, so readers see the old or the new file."""
    from shipclip.infra.io import atomic_write  # here, not at the top: it imports torch, tables need none

    def dump(fh):
        json.dump(obj, fh, indent=2, allow_nan=False)
        fh.write("\n")

    atomic_write(path, dump, mode="w")


def _move_aside(path):
    aside = path + ".bak"
    os.replace(path, aside)
    return aside


def _warn(message, log):
    """Warn on stderr and in the run's log (Dassl's log captures stdout only)."""
    warnings.warn(message, stacklevel=3)
    if log is not None:
        log(f"WARNING: {message}")


def record_evaluation(output_dir, run, evaluation, log=print):
    """Add one evaluation to ``<output_dir>/results.json`` (created if missing); return its path.

    ``run`` identifies the run (keys in :data:`RUN_KEYS`; extra keys are kept). ``evaluation`` is
    ``{"split": "test"|"val", "epoch": int|None, "classes": "base"|"new"|"all"|"joint",
    "metrics": {"accuracy": ..., "error_rate": ..., "macro_f1": ..., "total": ..., "correct": ...}}``
    (joint: plus ``seen``, ``unseen`` and optionally ``harmonic``, computed when absent).
    An existing entry with the same (split, classes, epoch) is replaced. A results.json left by a
    different run (see :data:`IDENTITY_KEYS`) or one that cannot be read is kept as
    ``results.json.bak`` and a new record is started, with a warning.
    """
    output_dir = os.fspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, RESULTS_FILENAME)
    run = _normalize_run(run)
    entry = _normalize_evaluation(evaluation)

    evaluations = []
    if os.path.exists(path):
        try:
            previous = load_results(path)
        except ResultsFormatError as exc:
            aside = _move_aside(path)
            _warn(f"{exc} It was moved to {aside}; starting a new record.", log)
            previous = None
        if previous is not None:
            changed = [k for k in IDENTITY_KEYS if previous["run"].get(k) != run.get(k)]
            if changed:
                aside = _move_aside(path)
                details = ", ".join(f"{k}: {previous['run'].get(k)!r} -> {run.get(k)!r}" for k in changed)
                _warn(f"{path} belonged to a different run ({details}); it was moved to {aside} and a new "
                      "record is started. Use a separate --output-dir per run.", log)
            else:
                evaluations = [e for e in previous["evaluations"] if _entry_key(e) != _entry_key(entry)]
    evaluations.append(entry)
    evaluations.sort(key=_entry_order)
    _write_json_atomic(path, {"format": FORMAT, "version": VERSION, "run": run, "evaluations": evaluations})
    if log is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log(f"Results recorded in {path} ({entry['split']} split, {entry['classes']} classes, "
            f"epoch {entry['epoch']}, accuracy {entry['metrics']['accuracy']:.4f}%) at {stamp}")
    return path


def load_results(path):
    """Read and validate a results.json; errors name the file and say what to do."""
    path = os.fspath(path)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsFormatError(
            f"{path} is not valid JSON ({exc.msg}: line {exc.lineno}, column {exc.colno}). It is always "
            "written atomically, so it was damaged or edited by hand: delete it and re-run that evaluation."
        ) from None

    def bad(what):
        return ResultsFormatError(f"{path} is not a valid results file: {what}. Delete it and re-run that evaluation.")

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise bad(f"'format' must be {FORMAT!r}")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise bad(f"'version' must be a positive int, got {version!r}")
    if version > VERSION:
        raise ResultsFormatError(f"{path} has results format version {version}, but this shipclip reads up to "
                                 f"version {VERSION}: upgrade shipclip to read it.")
    if not isinstance(doc.get("run"), dict):
        raise bad("'run' must be an object")
    evaluations = doc.get("evaluations")
    if not isinstance(evaluations, list):
        raise bad("'evaluations' must be a list")
    for i, entry in enumerate(evaluations):
        try:
            if not isinstance(entry, dict):
                raise ValueError("it is not an object")
            _normalize_evaluation(entry)
        except (TypeError, ValueError) as exc:
            raise bad(f"evaluations[{i}]: {exc}") from None
    return doc


def final_evaluation(evaluations, prefer_classes=()):
    """The test evaluation of the last epoch (None when the run has no test evaluation yet).

    When several class sets were evaluated at that epoch, the first of ``prefer_classes`` found
    wins, else the last recorded one.
    """
    if isinstance(evaluations, dict):
        evaluations = evaluations["evaluations"]
    tests = [e for e in evaluations if e["split"] == "test"]
    if not tests:
        return None
    last = max(-1 if e["epoch"] is None else e["epoch"] for e in tests)
    candidates = [e for e in tests if (-1 if e["epoch"] is None else e["epoch"]) == last]
    for classes in prefer_classes:
        for entry in candidates:
            if entry["classes"] == classes:
                return entry
    return candidates[-1]

"""The results format: the one place that writes and reads ``results.json``.

Every evaluation a trainer runs is recorded, at full precision, in ``<output_dir>/results.json``
(Dassl's log prints accuracy with one decimal, which is not enough to average seeds and compare
methods). The file is rewritten atomically (temporary file in the same folder, fsync,
``os.replace``), so a crash never leaves a half-written file. It holds no dates or wall-clock
times (those go to the log), so identical runs produce identical files::

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

A run is *finished* when its results hold a ``test`` evaluation (the test after training, or the
evaluation of an eval-only run); the protocol scripts skip finished runs and re-run the others in
place.

Output layout (written by ``scripts/*.sh``; :func:`collect` infers protocol, dataset, shots,
trainer, config and seed from it; ``<K>`` shots, ``<S>`` seed, ``<cfg>`` the trainer YAML stem)::

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
Runs made with real Dassl's own trainers have no ``results.json``; their ``log.txt`` is parsed
with the rule of CoOp's ``parse_test_res.py`` (after a stripped line equals ``Finish training``
for training logs, or ``=> result`` for eval-only logs, the last ``* accuracy: X%`` wins).

Aggregation (:func:`summarize`): mean and *population* standard deviation over seeds (numpy's
default, as in CoOp's parser). Base-to-new H per dataset is the harmonic mean of the
seed-averaged Base and New; the average row holds the mean Base, the mean New and the H of those
two means (not the mean of per-dataset H). GZSL H is the harmonic mean of the seed-averaged U and
S. Missing seeds, missing runs and unfinished runs are listed in ``missing`` and the affected
cells are marked incomplete: nothing is silently averaged in or out.
"""
import json
import math
import os
import re
import time
import warnings
from collections import defaultdict
from pathlib import Path

__all__ = [
    "RESULTS_FILENAME", "FORMAT", "VERSION", "RUN_KEYS", "SPLITS", "CLASSES", "PROTOCOLS",
    "ResultsFormatError",
    "record_evaluation", "load_results", "final_evaluation", "is_finished",
    "parse_log", "parse_layout", "read_run", "collect", "summarize",
    "harmonic_mean", "mean_std",
]

RESULTS_FILENAME = "results.json"
FORMAT = "shipclip-results"
VERSION = 1
SUMMARY_FORMAT = "shipclip-summary"

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
PROTOCOLS = ("base2new", "ablation", "xd", "gzsl", "fewshot", "runs")

# Row order of the usual benchmarks (others follow alphabetically).
DATASET_ORDER = ("imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
                 "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101", "imagenetv2", "imagenet_sketch",
                 "imagenet_a", "imagenet_r", "gzsl_cub", "gzsl_awa2", "gzsl_sun", "toyworld")


class ResultsFormatError(ValueError):
    """A results.json that cannot be read (bad JSON, wrong format, invalid entries)."""


# --------------------------------------------------------------------------------------------
# Writing


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
    from shipclip.infra.io import atomic_write

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


# --------------------------------------------------------------------------------------------
# Reading one run


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


_ACCURACY = re.compile(r"\* accuracy: ([\.\deE+-]+)%")
_OTHER_LINES = {
    "error_rate": re.compile(r"\* error: ([\.\deE+-]+)%"),
    "macro_f1": re.compile(r"\* macro_f1: ([\.\deE+-]+)%"),
    "total": re.compile(r"\* total: ([\d,]+)$"),
    "correct": re.compile(r"\* correct: ([\d,]+)$"),
}
_ARG_LINE = re.compile(r"^(\w+): (.*)$")


def _log_files(names):
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
_ROLE_CLASSES = {"train_base": ("base",), "test_new": ("new",), "test_joint": ("joint",), "train_seen": ("base",)}
_EVAL_ROLES = ("test_new", "test", "test_joint")


def parse_layout(run_dir):
    """Protocol, role, dataset, shots, trainer, config, seed (and variant / target) from a run's path.

    Returns None when the path does not follow the layout of the module docstring.
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


def _stem(path):
    return Path(path).stem if path else ""


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _opt_value(opts, key):
    """Value following ``key`` in a yacs opts list (or its printed repr)."""
    if isinstance(opts, str):
        opts = re.findall(r"'([^']*)'", opts)
    opts = list(opts or [])
    for i in range(len(opts) - 1):
        if opts[i] == key:
            return opts[i + 1]
    return None


def read_run(run_dir, root=None):
    """Describe one run folder (results.json, else its Dassl logs) as a flat dict.

    Keys: path, source (json/log/none), protocol, role, variant, dataset, trainer, config, shots,
    seed, target, finished, reason (why unfinished), classes, epoch, metrics.
    """
    run_dir = os.fspath(run_dir)
    layout = parse_layout(run_dir)
    rel = os.path.relpath(run_dir, root) if root is not None else run_dir
    record = {"path": Path(rel).as_posix(), "source": "none", "protocol": "runs", "role": "run", "variant": "",
              "dataset": "", "trainer": "", "config": "", "shots": None, "seed": None, "target": "",
              "finished": False, "reason": "", "classes": None, "epoch": None, "metrics": {}}
    json_path = os.path.join(run_dir, RESULTS_FILENAME)
    found = {}  # what the run itself says (used when the path does not follow the layout)
    if os.path.isfile(json_path):
        record["source"] = "json"
        try:
            doc = load_results(json_path)
        except ResultsFormatError as exc:
            doc = None
            record["reason"] = str(exc)
        if doc is not None:
            run = doc["run"]
            subsample = run.get("subsample_classes")
            found = {"dataset": run.get("dataset"), "trainer": run.get("trainer"), "config": run.get("config"),
                     "shots": _int_or_none(run.get("num_shots")), "seed": _int_or_none(run.get("seed"))}
            prefer = _ROLE_CLASSES.get(layout["role"], ()) if layout else ()
            prefer = prefer + ((subsample,) if subsample else ())
            entry = final_evaluation(doc["evaluations"], prefer)
            if entry is None:
                record["reason"] = "results.json has no test evaluation yet"
            else:
                record.update(finished=True, classes=entry["classes"], epoch=entry["epoch"],
                              metrics=dict(entry["metrics"]))
    else:
        logs = _log_files(os.listdir(run_dir)) if os.path.isdir(run_dir) else []
        if logs:
            record["source"] = "log"
            eval_only = True if (layout and layout["role"] in _EVAL_ROLES) else None
            parsed = None
            for name in logs:
                parsed = parse_log(os.path.join(run_dir, name), eval_only=eval_only)
                if parsed is not None:
                    break
            if parsed is None:
                signal = "=> result" if eval_only else "Finish training (or => result for eval-only logs)"
                record["reason"] = f"log.txt has no '* accuracy:' line after {signal}"
            else:
                args = parsed["args"]
                subsample = _opt_value(args.get("opts"), "DATASET.SUBSAMPLE_CLASSES")
                found = {"dataset": _stem(args.get("dataset_config_file")), "trainer": args.get("trainer"),
                         "config": _stem(args.get("config_file")),
                         "shots": _int_or_none(_opt_value(args.get("opts"), "DATASET.NUM_SHOTS")),
                         "seed": _int_or_none(args.get("seed"))}
                record.update(finished=True, metrics=parsed["metrics"], classes=subsample or None)
        else:
            record["reason"] = "no results.json and no log.txt"
    if layout is not None:
        record.update(layout)
        mismatched = [k for k in ("trainer", "seed") if found.get(k) not in (None, "") and found[k] != layout[k]]
        if mismatched:
            record["reason"] = (record["reason"] + "; " if record["reason"] else "") + "path and run disagree on " + \
                ", ".join(f"{k} ({layout[k]!r} in the path, {found[k]!r} in the run)" for k in mismatched)
    else:
        for key, value in found.items():
            if value not in (None, ""):
                record[key] = value
    return record


def is_finished(run_dir):
    """True when the run folder holds its final (test) result; scripts skip such runs."""
    if not os.path.isdir(run_dir):
        return False
    return read_run(run_dir)["finished"]


def collect(root):
    """Every run under ``root``: each folder with a results.json, or with Dassl logs but no JSON."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"Output root {root!r} does not exist or is not a folder.")
    records = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if RESULTS_FILENAME in filenames or _log_files(filenames):
            records.append(read_run(dirpath, root=root))
    return records


# --------------------------------------------------------------------------------------------
# Aggregation


def harmonic_mean(a, b):
    """2ab / (a + b); 0 when both are 0; None when either is missing."""
    if a is None or b is None:
        return None
    return 0.0 if a + b == 0 else 2.0 * a * b / (a + b)


def mean_std(values):
    """Mean and population standard deviation (ddof=0, as numpy and CoOp's parser)."""
    values = [float(v) for v in values]
    if not values:
        return None, None
    mean = math.fsum(values) / len(values)
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def _stat(values, expected):
    """Seed statistic: ``values`` maps seed -> value; ``expected`` the seeds that should be there."""
    seeds = sorted(values)
    mean, std = mean_std([values[s] for s in seeds])
    missing = sorted(set(expected) - set(seeds))
    return {"mean": mean, "std": std, "n": len(seeds), "seeds": seeds,
            "values": {str(s): values[s] for s in seeds}, "missing_seeds": missing,
            "complete": bool(seeds) and not missing}


def _derived(mean, complete, n=None, **extra):
    out = {"mean": mean, "std": None, "n": n, "complete": bool(complete) and mean is not None}
    out.update(extra)
    return out


def _dataset_sort_key(name):
    return (DATASET_ORDER.index(name) if name in DATASET_ORDER else len(DATASET_ORDER), name)


def _method_sort_key(method):
    trainer = method["trainer"]
    kind = 0 if trainer.startswith("ZeroshotCLIP") else (2 if trainer.startswith("SHIP") else 1)
    return (method["variant"] != "", method["variant"], kind, trainer, method["config"], method["shots"] or 0)


def _methods(keys):
    """Method descriptors with labels made of the fields that differ between methods."""
    methods = [dict(zip(("variant", "trainer", "config", "shots"), key)) for key in keys]
    methods.sort(key=_method_sort_key)
    varies = {f: len({m[f] for m in methods}) > 1 for f in ("variant", "trainer", "config", "shots")}
    # The config only needs naming when it is what tells two methods apart (same trainer, same variant).
    configs_per_method = {}
    for m in methods:
        configs_per_method.setdefault((m["variant"], m["trainer"], m["shots"]), set()).add(m["config"])
    varies["config"] = any(len(c) > 1 for c in configs_per_method.values())
    any_variant = any(m["variant"] for m in methods)
    for m in methods:
        parts = []
        if any_variant:
            parts.append(m["variant"])
        if varies["trainer"] or not any_variant:
            parts.append(m["trainer"])
        if varies["config"]:
            parts.append(m["config"])
        if varies["shots"] and m["shots"] is not None:
            parts.append(f"{m['shots']}-shot")
        m["label"] = "/".join(p for p in parts if p) or m["trainer"]
        m["key"] = "|".join(str(m[f]) for f in ("variant", "trainer", "config", "shots"))
    return methods


def _expected_seeds(records, seeds):
    if seeds:
        return sorted(set(int(s) for s in seeds))
    return sorted({r["seed"] for r in records if r["seed"] is not None})


def _context(protocol, variant, dataset, label):
    return f"{protocol}{'/' + variant if variant else ''} {dataset} {label}"


def _average(cells, datasets, metric_names, method_label, table_name, missing, hm_pair=None):
    """Average row cell of one method over datasets (means of seed-averaged values)."""
    have = [d for d in datasets if d in cells and all(cells[d][m]["mean"] is not None for m in metric_names)]
    absent = [d for d in datasets if d not in have]
    if absent and have:
        missing.append(f"{table_name} average for {method_label} covers {len(have)} of {len(datasets)} datasets "
                       f"(missing: {', '.join(absent)})")
    complete = not absent and all(cells[d][m]["complete"] for d in have for m in metric_names)
    out = {}
    for m in metric_names:
        mean = math.fsum(cells[d][m]["mean"] for d in have) / len(have) if have else None
        out[m] = _derived(mean, complete, n=len(have), datasets=have)
    if hm_pair:
        a, b, name = hm_pair
        out[name] = _derived(harmonic_mean(out[a]["mean"], out[b]["mean"]), complete, n=len(have), datasets=have)
    return out


def _table_base2new(protocol, records, seeds, missing):
    """Base / New / H per dataset and method; the average row is H of the averaged Base and New."""
    expected = _expected_seeds(records, seeds)
    acc = {}  # (method key, dataset) -> role -> seed -> accuracy (pairs with only unfinished runs stay empty)
    method_keys, datasets = set(), set()
    paths = {}
    for r in records:
        key = (r["variant"], r["trainer"], r["config"], r["shots"])
        method_keys.add(key)
        datasets.add(r["dataset"])
        paths[(key, r["dataset"], r["role"], r["seed"])] = r["path"]
        roles = acc.setdefault((key, r["dataset"]), {"train_base": {}, "test_new": {}})
        if r["finished"]:
            roles[r["role"]][r["seed"]] = r["metrics"]["accuracy"]
    methods = _methods(method_keys)
    datasets = sorted(datasets, key=_dataset_sort_key)
    rows, per_method = [], defaultdict(dict)
    for d in datasets:
        cells = {}
        for m in methods:
            key = (m["variant"], m["trainer"], m["config"], m["shots"])
            if (key, d) not in acc:
                continue
            base, new = acc[(key, d)]["train_base"], acc[(key, d)]["test_new"]
            ctx = _context(protocol, m["variant"], d, m["label"])
            for s in expected:
                if s in base and s not in new:
                    where = paths.get((key, d, "train_base", s), "")
                    missing.append(f"{ctx}: seed {s} has a base run but no finished new run "
                                   f"(expected {where.replace('train_base', 'test_new', 1) or 'test_new/...'})")
                elif s in new and s not in base:
                    missing.append(f"{ctx}: seed {s} has a new run but no finished base run")
                elif s not in base and s not in new:
                    missing.append(f"{ctx}: seed {s} has no finished runs")
            b, n = _stat(base, expected), _stat(new, expected)
            cell = {"Base": b, "New": n,
                    "H": _derived(harmonic_mean(b["mean"], n["mean"]), b["complete"] and n["complete"])}
            cells[m["key"]] = cell
            per_method[m["key"]][d] = cell
        rows.append({"dataset": d, "kind": "dataset", "cells": cells})
    if len(datasets) > 1:
        avg = {m["key"]: _average(per_method[m["key"]], datasets, ("Base", "New"), m["label"], protocol, missing,
                                  hm_pair=("Base", "New", "H")) for m in methods}
        rows.append({"dataset": "Average", "kind": "average", "cells": avg})
    return {"protocol": protocol, "layout": "wide", "metrics": ["Base", "New", "H"], "methods": methods,
            "rows": rows, "seeds": expected}


def _table_gzsl(records, seeds, missing):
    """U / S / H per dataset and method from the joint evaluations (H of seed-averaged U and S)."""
    expected = _expected_seeds(records, seeds)
    values = {}  # (method key, dataset) -> {"U": seed -> value, "S": seed -> value}
    trained = defaultdict(set)
    method_keys, datasets = set(), set()
    for r in records:
        key = ("", r["trainer"], r["config"], r["shots"])
        method_keys.add(key)
        datasets.add(r["dataset"])
        got = values.setdefault((key, r["dataset"]), {"U": {}, "S": {}})
        if not r["finished"]:
            continue
        if r["role"] == "train_seen":
            trained[(key, r["dataset"])].add(r["seed"])
        elif r["role"] == "test_joint":
            met = r["metrics"]
            if "seen" in met and "unseen" in met:
                got["U"][r["seed"]] = met["unseen"]
                got["S"][r["seed"]] = met["seen"]
            else:
                missing.append(f"gzsl {r['path']}: the joint evaluation has no seen/unseen metrics "
                               "(run it with TEST.JOINT True; Dassl logs carry only the overall accuracy)")
    methods = _methods(method_keys)
    datasets = sorted(datasets, key=_dataset_sort_key)
    rows, per_method = [], defaultdict(dict)
    for d in datasets:
        cells = {}
        for m in methods:
            key = ("", m["trainer"], m["config"], m["shots"])
            if (key, d) not in values:
                continue
            got = values[(key, d)]
            ctx = _context("gzsl", "", d, m["label"])
            for s in expected:
                if s not in got["U"]:
                    extra = " (its seen-class training run is finished)" if s in trained[(key, d)] else ""
                    missing.append(f"{ctx}: seed {s} has no finished joint (test_joint) evaluation{extra}")
            u, s_ = _stat(got["U"], expected), _stat(got["S"], expected)
            cell = {"U": u, "S": s_, "H": _derived(harmonic_mean(u["mean"], s_["mean"]),
                                                   u["complete"] and s_["complete"])}
            cells[m["key"]] = cell
            per_method[m["key"]][d] = cell
        rows.append({"dataset": d, "kind": "dataset", "cells": cells})
    if len(datasets) > 1:
        avg = {m["key"]: _average(per_method[m["key"]], datasets, ("U", "S"), m["label"], "gzsl", missing,
                                  hm_pair=("U", "S", "H")) for m in methods}
        rows.append({"dataset": "Average", "kind": "average", "cells": avg})
    return {"protocol": "gzsl", "layout": "wide", "metrics": ["U", "S", "H"], "methods": methods, "rows": rows,
            "seeds": expected}


def _table_xd(records, seeds, missing):
    """Accuracy per target dataset (rows) and method; source accuracy and the two usual averages."""
    expected = _expected_seeds(records, seeds)
    source_acc = defaultdict(lambda: defaultdict(list))  # (method, source) -> seed -> accs (per target for SHIP)
    target_acc = {}  # (method, target) -> seed -> acc
    method_keys, sources, targets = set(), set(), set()
    for r in records:
        key = ("", r["trainer"], r["config"], r["shots"])
        method_keys.add(key)
        if r["role"] == "train":
            sources.add(r["dataset"])
            if r["finished"]:
                source_acc[(key, r["dataset"])][r["seed"]].append(r["metrics"]["accuracy"])
        else:
            targets.add(r["dataset"])
            got = target_acc.setdefault((key, r["dataset"]), {})
            if r["finished"]:
                got[r["seed"]] = r["metrics"]["accuracy"]
    methods = _methods(method_keys)
    rows = []
    for src in sorted(sources, key=_dataset_sort_key):
        cells = {}
        for m in methods:
            key = ("", m["trainer"], m["config"], m["shots"])
            if (key, src) in source_acc:
                # A per-target model (SHIP) is one source model per target: average them per seed.
                per_seed = {s: math.fsum(v) / len(v) for s, v in source_acc[(key, src)].items()}
                cells[m["key"]] = {"Acc": _stat(per_seed, expected)}
        rows.append({"dataset": f"{src} (source)", "kind": "source", "cells": cells})
    targets = sorted(targets, key=_dataset_sort_key)
    per_method = defaultdict(dict)
    for t in targets:
        cells = {}
        for m in methods:
            key = ("", m["trainer"], m["config"], m["shots"])
            if (key, t) not in target_acc:
                missing.append(f"{_context('xd', '', t, m['label'])}: no runs on this target")
                continue
            got = target_acc[(key, t)]
            for s in expected:
                if s not in got:
                    missing.append(f"{_context('xd', '', t, m['label'])}: seed {s} has no finished evaluation")
            cells[m["key"]] = {"Acc": _stat(got, expected)}
            per_method[m["key"]][t] = cells[m["key"]]
        rows.append({"dataset": t, "kind": "dataset", "cells": cells})
    groups = (("Average (cross-dataset)", [t for t in targets if not t.startswith("imagenet")]),
              ("Average (domain generalization)", [t for t in targets if t.startswith("imagenet")]))
    for name, members in groups:
        if len(members) > 1:
            avg = {m["key"]: _average(per_method[m["key"]], members, ("Acc",), m["label"], f"xd {name}", missing)
                   for m in methods}
            rows.append({"dataset": name, "kind": "average", "cells": avg})
    return {"protocol": "xd", "layout": "wide", "metrics": ["Acc"], "methods": methods, "rows": rows,
            "seeds": expected}


def _shot_label(shots):
    return f"{shots}-shot"


def _table_fewshot(records, seeds, missing):
    """Accuracy per dataset (rows), method and shot count (columns); 0 shots = zero-shot."""
    expected = _expected_seeds(records, seeds)
    acc = {}  # (method, dataset, shots) -> seed -> acc
    method_keys, datasets = set(), set()
    shots_of = defaultdict(set)
    for r in records:
        key = ("", r["trainer"], r["config"], None)
        method_keys.add(key)
        datasets.add(r["dataset"])
        shots_of[key].add(r["shots"])
        got = acc.setdefault((key, r["dataset"], r["shots"]), {})
        if r["finished"]:
            got[r["seed"]] = r["metrics"]["accuracy"]
    all_shots = sorted({s for v in shots_of.values() for s in v})
    learned = [s for s in all_shots if s > 0]
    methods = _methods(method_keys)
    datasets = sorted(datasets, key=_dataset_sort_key)
    metric_names = [_shot_label(s) for s in all_shots]
    rows, per_method = [], defaultdict(dict)
    for d in datasets:
        cells = {}
        for m in methods:
            key = ("", m["trainer"], m["config"], None)
            # A method evaluated only with 0 shots is zero-shot; the others should cover every shot count.
            wanted = [0] if shots_of[key] == {0} else learned
            if not any((key, d, s) in acc for s in all_shots):
                continue
            cell = {}
            for s in all_shots:
                got = acc.get((key, d, s))
                if got is None:
                    if s in wanted:
                        missing.append(f"{_context('fewshot', '', d, m['label'])}: no runs with {s} shots")
                    continue
                for seed in expected:
                    if seed not in got:
                        missing.append(f"{_context('fewshot', '', d, m['label'])}: {s} shots, seed {seed} "
                                       "has no finished run")
                cell[_shot_label(s)] = _stat(got, expected)
            cells[m["key"]] = cell
            per_method[m["key"]][d] = cell
        rows.append({"dataset": d, "kind": "dataset", "cells": cells})
    if len(datasets) > 1:
        avg = {}
        for m in methods:
            cells = per_method[m["key"]]
            avg[m["key"]] = {}
            for name in metric_names:
                have = [d for d in datasets if d in cells and name in cells[d] and cells[d][name]["mean"] is not None]
                if not have:
                    continue
                absent = [d for d in datasets if d not in have]
                if absent:
                    missing.append(f"fewshot average for {m['label']} at {name} covers {len(have)} of "
                                   f"{len(datasets)} datasets (missing: {', '.join(absent)})")
                mean = math.fsum(cells[d][name]["mean"] for d in have) / len(have)
                complete = not absent and all(cells[d][name]["complete"] for d in have)
                avg[m["key"]][name] = _derived(mean, complete, n=len(have), datasets=have)
        rows.append({"dataset": "Average", "kind": "average", "cells": avg})
    return {"protocol": "fewshot", "layout": "wide", "metrics": metric_names, "methods": methods, "rows": rows,
            "seeds": expected}


def _table_runs(records, seeds, missing):
    """Runs outside the protocol layout, grouped by the folder holding their ``seed<S>`` folders."""
    groups = defaultdict(list)
    for r in records:
        parent, name = os.path.split(r["path"])
        group = parent if re.fullmatch(r"seed\d+", name) and parent else r["path"]
        groups[group].append(r)
    rows = []
    for group in sorted(groups):
        members = groups[group]
        done = [r for r in members if r["finished"]]
        expected = _expected_seeds(members, seeds)
        values = {}
        for r in done:
            values[r["seed"] if r["seed"] is not None else r["path"]] = r["metrics"]["accuracy"]
        if any(r["seed"] is None for r in done):
            stat = _stat({str(k): v for k, v in values.items()}, [])
        else:
            stat = _stat(values, expected)
            for s in stat["missing_seeds"]:
                missing.append(f"runs {group}: seed {s} has no finished run")
        first = done[0] if done else members[0]
        rows.append({"group": group, "dataset": first["dataset"], "trainer": first["trainer"],
                     "config": first["config"], "shots": first["shots"], "classes": first["classes"],
                     "Acc": stat})
    return {"protocol": "runs", "layout": "flat", "metrics": ["Acc"], "rows": rows}


def summarize(records, protocols=None, seeds=None):
    """Aggregate :func:`collect`'s records into tables plus the list of what is missing.

    ``protocols`` restricts the tables (names in :data:`PROTOCOLS`); ``seeds`` fixes the expected
    seeds (default: every seed found in that protocol). Returns a JSON-ready dict with
    ``tables`` (one per protocol), ``missing`` (lines) and ``runs`` (the records).
    """
    if protocols:
        unknown = sorted(set(protocols) - set(PROTOCOLS))
        if unknown:
            raise ValueError(f"Unknown protocol(s) {unknown}; choose from {', '.join(PROTOCOLS)}.")
    by_protocol = defaultdict(list)
    for r in records:
        by_protocol[r["protocol"]].append(r)
    missing, tables, used = [], [], []
    for protocol in PROTOCOLS:
        recs = by_protocol.get(protocol)
        if not recs or (protocols and protocol not in protocols):
            continue
        used.extend(recs)
        for r in recs:
            if not r["finished"]:
                missing.append(f"unfinished run {r['path']}: {r['reason']}")
            elif r["reason"]:
                missing.append(f"run {r['path']}: {r['reason']}")
        if protocol in ("base2new", "ablation"):
            tables.append(_table_base2new(protocol, recs, seeds, missing))
        elif protocol == "gzsl":
            tables.append(_table_gzsl(recs, seeds, missing))
        elif protocol == "xd":
            tables.append(_table_xd(recs, seeds, missing))
        elif protocol == "fewshot":
            tables.append(_table_fewshot(recs, seeds, missing))
        else:
            tables.append(_table_runs(recs, seeds, missing))
    notes = []
    from_logs = [r for r in used if r["source"] == "log" and r["finished"]]
    if from_logs:
        notes.append(f"{len(from_logs)} run(s) were read from Dassl log.txt files: their accuracy has the log's "
                     "printed precision (one or two decimals).")
    return {"format": SUMMARY_FORMAT, "version": VERSION, "tables": tables, "missing": missing, "notes": notes,
            "runs": used}

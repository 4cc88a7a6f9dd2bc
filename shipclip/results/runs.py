"""Finding the runs under an output root and describing each one as a flat record.

A run folder holds a ``results.json`` (:mod:`.record`), or, for runs made with real Dassl's own
trainers, only Dassl logs (:mod:`.dassl_log`). Its path says what it is (:mod:`.layout`); the
record says whether it is *finished* (its results hold a ``test`` evaluation: the test after
training, or the evaluation of an eval-only run). The protocol scripts skip finished runs and
re-run the others in place.
"""
import os
from pathlib import Path

from .dassl_log import log_files, opt_value, parse_log, parse_opts
from .layout import EVAL_ROLES, ROLE_CLASSES, parse_layout
from .record import RESULTS_FILENAME, ResultsFormatError, final_evaluation, load_results

__all__ = ["read_run", "is_finished", "collect"]


def _stem(path):
    return Path(path).stem if path else ""


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _read_json_run(json_path, layout, record):
    """Fill ``record`` from a results.json; return what the run says about itself."""
    record["source"] = "json"
    try:
        doc = load_results(json_path)
    except ResultsFormatError as exc:
        record["reason"] = str(exc)
        return {}
    run = doc["run"]
    subsample = run.get("subsample_classes")
    prefer = ROLE_CLASSES.get(layout["role"], ()) if layout else ()
    prefer = prefer + ((subsample,) if subsample else ())
    entry = final_evaluation(doc["evaluations"], prefer)
    if entry is None:
        record["reason"] = "results.json has no test evaluation yet"
    else:
        record.update(finished=True, classes=entry["classes"], epoch=entry["epoch"], metrics=dict(entry["metrics"]))
    if run.get("opts") is not None:
        record["opts"] = parse_opts(run["opts"])
    return {"dataset": run.get("dataset"), "trainer": run.get("trainer"), "config": run.get("config"),
            "shots": _int_or_none(run.get("num_shots")), "seed": _int_or_none(run.get("seed"))}


def _read_log_run(run_dir, logs, layout, record):
    """Fill ``record`` from the newest Dassl log holding a final result; return what the run says."""
    record["source"] = "log"
    eval_only = True if (layout and layout["role"] in EVAL_ROLES) else None
    parsed = None
    for name in logs:
        parsed = parse_log(os.path.join(run_dir, name), eval_only=eval_only)
        if parsed is not None:
            break
    if parsed is None:
        signal = "=> result" if eval_only else "Finish training (or => result for eval-only logs)"
        record["reason"] = f"log.txt has no '* accuracy:' line after {signal}"
        return {}
    args = parsed["args"]
    subsample = opt_value(args.get("opts"), "DATASET.SUBSAMPLE_CLASSES")
    record.update(finished=True, metrics=parsed["metrics"], classes=subsample or None)
    if "opts" in args:
        record["opts"] = parse_opts(args["opts"])
    return {"dataset": _stem(args.get("dataset_config_file")), "trainer": args.get("trainer"),
            "config": _stem(args.get("config_file")),
            "shots": _int_or_none(opt_value(args.get("opts"), "DATASET.NUM_SHOTS")),
            "seed": _int_or_none(args.get("seed"))}


def read_run(run_dir, root=None):
    """Describe one run folder (results.json, else its Dassl logs) as a flat dict.

    Keys: path, source (json/log/none), protocol, role, variant, dataset, trainer, config, shots,
    seed, target, finished, reason (why unfinished), classes, epoch, metrics, opts (the run's yacs
    overrides, None when it did not record them).
    """
    run_dir = os.fspath(run_dir)
    layout = parse_layout(run_dir)
    rel = os.path.relpath(run_dir, root) if root is not None else run_dir
    record = {"path": Path(rel).as_posix(), "source": "none", "protocol": "runs", "role": "run", "variant": "",
              "dataset": "", "trainer": "", "config": "", "shots": None, "seed": None, "target": "",
              "finished": False, "reason": "", "classes": None, "epoch": None, "metrics": {}, "opts": None}
    json_path = os.path.join(run_dir, RESULTS_FILENAME)
    logs = [] if os.path.isfile(json_path) or not os.path.isdir(run_dir) else log_files(os.listdir(run_dir))
    if os.path.isfile(json_path):
        found = _read_json_run(json_path, layout, record)
    elif logs:
        found = _read_log_run(run_dir, logs, layout, record)
    else:
        found = {}
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
    """Every run under ``root``: each folder with a results.json, or with Dassl logs but no JSON.

    Symbolic links to folders are followed (each real folder once), so a tree of links can pool runs
    from several output roots, e.g. one dataset name per world or per machine.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"Output root {root!r} does not exist or is not a folder.")
    records, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a link cycle, or a second link to the same folder
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if RESULTS_FILENAME in filenames or log_files(filenames):
            records.append(read_run(dirpath, root=root))
    return records

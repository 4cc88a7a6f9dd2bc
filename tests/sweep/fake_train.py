"""A stand-in for train.py in the launcher tests: CoOp's command line, a results.json in a blink.

It writes what the launchers look at: a results.json with a test evaluation in the documented
format (so the run counts as finished; written directly, so no torch import slows the tests down) and, for a training step, a ``prompt_learner/checkpoint`` pointer naming epoch 3. An
eval-only step with ``--model-dir`` fails unless that pointer exists (its training must have
finished first). The accuracy is a function of the command line only, so identical calls write
identical files. Knobs, all optional:

  FAKE_CALLS        append one JSON line per call: output dir, argv, CUDA_VISIBLE_DEVICES,
                    OMP_NUM_THREADS, MKL_NUM_THREADS, and the calls already running when it started
  FAKE_FAIL         a run whose output dir contains this string prints an error and exits 1
  FAKE_HOLD         a run whose output dir contains this string creates FAKE_HOLD_STARTED, then
                    waits (up to 120 s) until the file FAKE_RELEASE exists
  FAKE_RUNNING_DIR  folder of "running" markers (one per call in progress, for FAKE_CALLS) and of
                    "started" markers (kept)
  FAKE_PAIR         "A|B": runs A and B each wait (up to 60 s) until both have started, so they
                    succeed only when they run at the same time
"""
import argparse
import hashlib
import json
import os
import sys
import time

RESULTS_FORMAT = {"format": "shipclip-results", "version": 1}


def wait_for(predicate, timeout_s):
    end = time.time() + timeout_s
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def write_whole(path, text):
    """Write a marker another call may be reading: it appears complete or not at all."""
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser()
    for flag in ("--root", "--seed", "--trainer", "--dataset-config-file", "--config-file", "--output-dir",
                 "--model-dir", "--load-epoch"):
        parser.add_argument(flag, default=None)
    parser.add_argument("--eval-only", action="store_true")
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    out = args.output_dir
    env = os.environ
    running_dir = env.get("FAKE_RUNNING_DIR")
    marker = None
    if running_dir:
        os.makedirs(running_dir, exist_ok=True)
        marker = os.path.join(running_dir, hashlib.sha1(out.encode()).hexdigest())
        write_whole(marker, out)
        os.makedirs(os.path.join(running_dir, "started"), exist_ok=True)
        write_whole(os.path.join(running_dir, "started", os.path.basename(marker)), out)
    try:
        others = []
        if running_dir:
            others = sorted(open(os.path.join(running_dir, n)).read() for n in os.listdir(running_dir)
                            if n != "started" and not n.endswith(".tmp") and os.path.join(running_dir, n) != marker)
        if env.get("FAKE_CALLS"):
            with open(env["FAKE_CALLS"], "a") as f:
                f.write(json.dumps({"out": out, "argv": sys.argv[1:], "running": others,
                                    **{k: env.get(k) for k in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS",
                                                               "MKL_NUM_THREADS")}}) + "\n")
        print(f"fake train.py for {out}", flush=True)
        if env.get("FAKE_FAIL") and env["FAKE_FAIL"] in out:
            print(f"fake failure in {out}", file=sys.stderr, flush=True)
            return 1
        if env.get("FAKE_HOLD") and env["FAKE_HOLD"] in out:
            open(env["FAKE_HOLD_STARTED"], "w").close()
            if not wait_for(lambda: os.path.exists(env["FAKE_RELEASE"]), 120):
                return 2
        if env.get("FAKE_PAIR"):
            pair = env["FAKE_PAIR"].split("|")
            if any(p in out for p in pair):  # wait until both have started: they ran at the same time
                started = lambda: [open(os.path.join(running_dir, "started", n)).read()
                                   for n in os.listdir(os.path.join(running_dir, "started")) if not n.endswith(".tmp")]
                if not wait_for(lambda: all(any(p in n for n in started()) for p in pair), 60):
                    print(f"{pair} never ran at the same time", file=sys.stderr)
                    return 4
        if args.model_dir is not None:
            if not os.path.isfile(os.path.join(args.model_dir, "prompt_learner", "checkpoint")):
                print(f"no trained model in {args.model_dir}", file=sys.stderr)
                return 3
        opts = args.opts or []
        subsample = opts[opts.index("DATASET.SUBSAMPLE_CLASSES") + 1] if "DATASET.SUBSAMPLE_CLASSES" in opts else "all"
        shots = int(opts[opts.index("DATASET.NUM_SHOTS") + 1]) if "DATASET.NUM_SHOTS" in opts else 0
        digest = hashlib.sha1(json.dumps(sys.argv[1:]).encode()).digest()
        total = 40
        correct = digest[0] % (total + 1)
        run = {"trainer": args.trainer, "dataset": os.path.basename(args.dataset_config_file)[:-5],
               "backbone": "fake", "weights": "none", "num_shots": shots, "seed": int(args.seed),
               "subsample_classes": subsample, "config": os.path.basename(args.config_file)[:-5],
               "engine": "fake", "eval_only": args.eval_only, "model_dir": args.model_dir,
               "load_epoch": None if args.load_epoch is None else int(args.load_epoch), "label_only": None,
               "opts": opts}
        if not args.eval_only:
            os.makedirs(os.path.join(out, "prompt_learner"), exist_ok=True)
            with open(os.path.join(out, "prompt_learner", "checkpoint"), "w") as f:
                f.write("model.pth.tar-3\n")
        accuracy = 100.0 * correct / total
        metrics = {"accuracy": accuracy, "error_rate": 100.0 - accuracy, "macro_f1": accuracy, "total": total,
                   "correct": correct}
        classes = subsample
        if "TEST.JOINT" in opts:
            classes = "joint"
            metrics.update(seen=accuracy, unseen=100.0 - accuracy)
        evaluation = {"split": "test", "epoch": None if args.eval_only else 3, "classes": classes, "metrics": metrics}
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "results.json.tmp"), "w") as f:
            json.dump({**RESULTS_FORMAT, "run": run, "evaluations": [evaluation]}, f, indent=2)
        os.replace(os.path.join(out, "results.json.tmp"), os.path.join(out, "results.json"))
        return 0
    finally:
        if marker:
            os.remove(marker)


if __name__ == "__main__":
    sys.exit(main())

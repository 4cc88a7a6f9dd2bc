"""Synthetic output trees for the results tests, written with the real writer (``record_evaluation``)."""
import os

from shipclip.results import record_evaluation

LAYOUT = "{protocol}/{role}/{dataset}/shots_{shots}/{trainer}/{cfg}/seed{seed}"


def evaluation(accuracy, classes="base", split="test", epoch=10, **extra):
    metrics = {"accuracy": accuracy, "error_rate": 100.0 - accuracy, "macro_f1": accuracy - 1.0,
               "total": 200, "correct": int(round(accuracy * 2))}
    metrics.update(extra)
    return {"split": split, "epoch": epoch, "classes": classes, "metrics": metrics}


def run_info(trainer="CoOp", dataset="OxfordPets", seed=1, subsample="base", **extra):
    info = {"trainer": trainer, "dataset": dataset, "backbone": "ViT-B/16", "weights": "openai", "num_shots": 16,
            "seed": seed, "subsample_classes": subsample, "config": "vit_b16_ctxv1", "engine": "builtin",
            "eval_only": subsample == "new", "opts": ["DATASET.NUM_SHOTS", "16"]}
    info.update(extra)
    return info


def add_base2new(root, dataset, trainer, seed, base=None, new=None, cfg="cfg", prefix="", opts=None):
    """Record the base and/or new run of one seed in the layout the scripts write."""
    for role, classes, acc in (("train_base", "base", base), ("test_new", "new", new)):
        if acc is None:
            continue
        path = os.path.join(root, prefix, LAYOUT.format(protocol="base2new", role=role, dataset=dataset, shots=16,
                                                        trainer=trainer, cfg=cfg, seed=seed))
        extra = {} if opts is None else {"opts": ["DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", classes]
                                         + list(opts)}
        record_evaluation(path, run_info(trainer, dataset, seed, classes, **extra), evaluation(acc, classes), log=None)


def add_gzsl(root, dataset, trainer, seed, seen, unseen, cfg="cfg"):
    """Record the joint (test_joint) evaluation of one GZSL seed."""
    path = os.path.join(root, LAYOUT.format(protocol="gzsl", role="test_joint", dataset=dataset, shots=16,
                                            trainer=trainer, cfg=cfg, seed=seed))
    record_evaluation(path, run_info(trainer, dataset, seed, "all"),
                      evaluation(50.0, classes="joint", seen=seen, unseen=unseen), log=None)


def add_xd(root, role, dataset, trainer, seed, acc, extra=""):
    """Record one cross-dataset run (``role`` train or test; ``extra`` e.g. ``to_dtd``)."""
    path = os.path.join(root, "xd", role, dataset, "shots_16", trainer, "cfg", extra, f"seed{seed}")
    record_evaluation(path, run_info(trainer, dataset, seed, "all"), evaluation(acc, classes="all"), log=None)


def cell(summary, protocol, dataset, label):
    """The cell of ``label`` on row ``dataset`` of a wide table."""
    table = next(t for t in summary["tables"] if t["protocol"] == protocol)
    key = next(m["key"] for m in table["methods"] if m["label"] == label)
    row = next(r for r in table["rows"] if r["dataset"] == dataset)
    return row["cells"][key]

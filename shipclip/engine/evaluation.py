"""Evaluators with Dassl's registry and printed result block.

``Classification`` prints exactly the lines CoOp's ``parse_test_res.py`` parses (``=> result``,
``* accuracy: 76.0%``, ...) and computes macro-F1 without scikit-learn, the way Dassl calls it:
F1 averaged over the labels that occur in the ground truth.
"""
import os
from collections import OrderedDict, defaultdict

import numpy as np
import torch

from .registry import Registry, check_availability
from .utils import atomic_torch_save

__all__ = ["EVALUATOR_REGISTRY", "build_evaluator", "EvaluatorBase", "Classification", "macro_f1_score",
           "confusion_matrix"]

EVALUATOR_REGISTRY = Registry("EVALUATOR")


def build_evaluator(cfg, **kwargs):
    """Instantiate ``cfg.TEST.EVALUATOR`` from ``EVALUATOR_REGISTRY`` (kwargs go to its constructor)."""
    name = cfg.TEST.EVALUATOR
    check_availability(name, EVALUATOR_REGISTRY.registered_names())
    if cfg.VERBOSE:
        print(f"Loading evaluator: {name}")
    return EVALUATOR_REGISTRY.get(name)(cfg, **kwargs)


class EvaluatorBase:
    """Accumulates model outputs over a loader (``process``) and summarises them (``evaluate``)."""

    def __init__(self, cfg):
        self.cfg = cfg

    def reset(self):
        raise NotImplementedError

    def process(self, mo, gt):
        raise NotImplementedError

    def evaluate(self):
        raise NotImplementedError


def macro_f1_score(y_true, y_pred, labels=None):
    """Unweighted mean of per-label F1 = 2TP / (2TP + FP + FN) over ``labels`` (default: labels in
    ``y_true``). A label with no true, predicted or correct sample scores 0, as in scikit-learn."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if labels is None:
        labels = np.unique(y_true)
    labels = np.asarray(labels)
    if labels.size == 0:
        return 0.0
    scores = []
    for label in labels:
        is_true = y_true == label
        is_pred = y_pred == label
        tp = np.sum(is_true & is_pred)
        denom = 2 * tp + np.sum(~is_true & is_pred) + np.sum(is_true & ~is_pred)
        scores.append(2.0 * tp / denom if denom > 0 else 0.0)
    return float(np.mean(scores))


def confusion_matrix(y_true, y_pred, normalize=True):
    """Confusion matrix over the sorted labels seen in either list (rows: truth, columns: prediction);
    with ``normalize`` each row sums to 1 (all-zero rows stay 0). Returns (matrix, labels)."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    labels = np.unique(np.concatenate([y_true, y_pred]))
    index = {label: i for i, label in enumerate(labels.tolist())}
    cmat = np.zeros((len(labels), len(labels)), dtype=np.float64)
    for t, p in zip(y_true.tolist(), y_pred.tolist()):
        cmat[index[t], index[p]] += 1
    if normalize:
        rows = cmat.sum(axis=1, keepdims=True)
        cmat = np.divide(cmat, rows, out=np.zeros_like(cmat), where=rows > 0)
    return cmat, labels


@EVALUATOR_REGISTRY.register()
class Classification(EvaluatorBase):
    """Accuracy, error rate and macro-F1 of argmax predictions (plus per-class accuracy on request).

    After ``evaluate()``, ``last_summary`` holds the raw counts and full-precision values
    (``total``, ``correct``, ``accuracy``, ``error_rate``, ``macro_f1``, maybe ``perclass_accuracy``).
    """

    def __init__(self, cfg, lab2cname=None, **kwargs):
        super().__init__(cfg)
        self._lab2cname = lab2cname
        if cfg.TEST.PER_CLASS_RESULT and lab2cname is None:
            raise ValueError("TEST.PER_CLASS_RESULT=True needs lab2cname (label -> class name) for the evaluator.")
        self.last_summary = None
        self.reset()

    def reset(self):
        self._correct = 0
        self._total = 0
        self._y_true = []
        self._y_pred = []
        self._per_class_res = defaultdict(list) if self.cfg.TEST.PER_CLASS_RESULT else None

    def process(self, mo, gt):
        """``mo``: logits [N, C]; ``gt``: labels [N]."""
        pred = mo.max(1)[1]
        gt = gt.to(pred.device)
        matches = pred.eq(gt)
        self._correct += int(matches.sum().item())
        self._total += gt.shape[0]
        self._y_true.extend(gt.detach().cpu().tolist())
        self._y_pred.extend(pred.detach().cpu().tolist())
        if self._per_class_res is not None:
            for label, hit in zip(gt.detach().cpu().tolist(), matches.detach().cpu().tolist()):
                self._per_class_res[label].append(int(hit))

    def evaluate(self):
        if self._total == 0:
            raise RuntimeError("Classification.evaluate() called before any process(): no predictions to score.")
        results = OrderedDict()
        acc = 100.0 * self._correct / self._total
        err = 100.0 - acc
        macro_f1 = 100.0 * macro_f1_score(self._y_true, self._y_pred)
        results["accuracy"] = acc  # trainer.test() returns the first value
        results["error_rate"] = err
        results["macro_f1"] = macro_f1
        print(
            "=> result\n"
            f"* total: {self._total:,}\n"
            f"* correct: {self._correct:,}\n"
            f"* accuracy: {acc:.1f}%\n"
            f"* error: {err:.1f}%\n"
            f"* macro_f1: {macro_f1:.1f}%"
        )

        if self._per_class_res is not None:
            print("=> per-class result")
            accs = []
            for label in sorted(self._per_class_res):
                res = self._per_class_res[label]
                correct, total = sum(res), len(res)
                class_acc = 100.0 * correct / total
                accs.append(class_acc)
                classname = self._lab2cname.get(label, str(label)) if hasattr(self._lab2cname, "get") else \
                    self._lab2cname[label]
                print(f"* class: {label} ({classname})\ttotal: {total:,}\tcorrect: {correct:,}\tacc: {class_acc:.1f}%")
            mean_acc = float(np.mean(accs))
            print(f"* average: {mean_acc:.1f}%")
            results["perclass_accuracy"] = mean_acc

        if self.cfg.TEST.COMPUTE_CMAT:
            cmat, _ = confusion_matrix(self._y_true, self._y_pred, normalize=True)
            save_path = os.path.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            atomic_torch_save(torch.from_numpy(cmat), save_path)
            print(f"Confusion matrix is saved to {save_path}")

        self.last_summary = {"total": self._total, "correct": self._correct, **results}
        return results

"""Evaluation of the project's CLIP trainers: the test loop, joint (GZSL) metrics, the record in results.json,
and the rule that nothing is ever selected on the test split.

``test()`` prints the engine's lines (``=> result``, ``* accuracy: ...``) and writes every
evaluation to ``results.json`` (:func:`shipclip.results.record_evaluation`). With ``TEST.JOINT`` it
also reports the per-class mean accuracy on seen (base) and unseen (new) classes of the joint label
space and their harmonic mean.

Selection (Tip-Adapter's alpha/beta search, ``TEST.FINAL_MODEL best_val``, anything that evaluates on
``val`` to decide) goes through :meth:`EvaluationMixin.selection_split`, which refuses a validation
split that shares images with the test split (CoOp's ImageNet sets ``val = test``).
"""
import torch

from shipclip.clip.prompts import clean_classname
from shipclip.progress import progress_bar

__all__ = ["EvaluationMixin", "SelectionOnTestError", "joint_accuracy", "harmonic_mean", "finish_evaluation"]


class SelectionOnTestError(ValueError):
    """A model or hyper-parameter would be selected on images of the test split."""


def harmonic_mean(a, b):
    """2ab / (a + b), 0 when both are 0 (the base-to-new and GZSL summary)."""
    return 2.0 * a * b / (a + b) if (a + b) > 0 else 0.0


def joint_accuracy(y_true, y_pred, classnames, seen, unseen):
    """Per-class mean accuracy (%) on the seen and unseen classes of a joint label space.

    ``y_true``/``y_pred`` index ``classnames``. Classes without test samples are left out of the
    means, as in generalized zero-shot learning. Returns ``{"seen", "unseen", "harmonic",
    "num_seen_classes", "num_unseen_classes"}``.
    """
    y_true = torch.as_tensor(y_true).long().view(-1)
    y_pred = torch.as_tensor(y_pred).long().view(-1)
    seen = {clean_classname(c) for c in seen}
    unseen = {clean_classname(c) for c in unseen}
    overlap = seen & unseen
    if overlap:
        raise ValueError(f"Classes listed as both seen and unseen: {sorted(overlap)[:5]}")
    per_class = {"seen": [], "unseen": []}
    for index, name in enumerate(classnames):
        mask = y_true == index
        total = int(mask.sum())
        if total == 0:
            continue
        acc = 100.0 * float((y_pred[mask] == index).sum()) / total
        name = clean_classname(name)
        if name in seen:
            per_class["seen"].append(acc)
        elif name in unseen:
            per_class["unseen"].append(acc)
    s = sum(per_class["seen"]) / len(per_class["seen"]) if per_class["seen"] else 0.0
    u = sum(per_class["unseen"]) / len(per_class["unseen"]) if per_class["unseen"] else 0.0
    return {"seen": s, "unseen": u, "harmonic": harmonic_mean(s, u),
            "num_seen_classes": len(per_class["seen"]), "num_unseen_classes": len(per_class["unseen"])}


def finish_evaluation(trainer, split, y_true, y_pred, classnames, joint_sets=None):
    """The end of every test loop: the evaluator's printed block and scalars, then the metrics to record.

    ``y_true``/``y_pred`` are the batches' label and argmax tensors. With ``joint_sets`` (a function
    returning the seen and unseen class names, called after the evaluator's block is printed) the joint
    (GZSL) lines are printed too and their values join the metrics. Returns
    ``(metrics, first evaluator value)``, the latter what Dassl's ``test`` returns.
    """
    from shipclip.metric_lines import print_joint_result

    results = trainer.evaluator.evaluate()
    for key, value in results.items():
        trainer.write_scalar(f"{split}/{key}", value, trainer.epoch)
    y_true, y_pred = torch.cat(y_true), torch.cat(y_pred)
    metrics = {key: float(value) for key, value in results.items()}
    metrics["total"] = int(y_true.numel())
    metrics["correct"] = int((y_true == y_pred).sum())
    if joint_sets is not None:
        joint = joint_accuracy(y_true, y_pred, classnames, *joint_sets())
        print_joint_result(joint)  # "* seen: x%" etc., as parse_test_res.py --keyword reads them
        metrics.update(joint)
    return metrics, list(results.values())[0]


def shared_images(a, b):
    """Image paths present in both item lists (an identical list object shares all of them)."""
    if not a or not b:
        return set()
    return {item.impath for item in a} & {item.impath for item in b}


class EvaluationMixin:
    """The test loop, joint metrics, results recording and the selection rule of :class:`ClipTrainer`."""

    # ------------------------------------------------------------------ label spaces
    def get_eval_classnames(self):
        """The label space evaluated on: the dataset's classes, or its joint space with ``TEST.JOINT``
        (base then new; derived for a dataset that does not list them, see shipclip.ship.label_space)."""
        dataset = self.dm.dataset
        if self.cfg.TEST.JOINT:
            from shipclip.ship.label_space import joint_classnames

            return joint_classnames(self.cfg, dataset)
        return list(dataset.classnames)

    def joint_class_sets(self):
        """(seen, unseen) class names of the dataset, for ``TEST.JOINT``."""
        from shipclip.ship.label_space import joint_class_sets

        return joint_class_sets(self.cfg, self.dm.dataset)

    def label_map(self, data_source, classnames):
        """Tensor mapping a split's labels to indices of ``classnames`` (None when they coincide).

        Needed in the joint label space, where a split's own labels (relabelled by
        ``SUBSAMPLE_CLASSES``) differ from the positions in the joint class list.
        """
        if not data_source:
            return None
        index = {clean_classname(n): i for i, n in enumerate(classnames)}
        pairs = {}
        for item in data_source:
            pairs.setdefault(item.label, item.classname)
        if all(label < len(classnames) and clean_classname(classnames[label]) == clean_classname(name)
               for label, name in pairs.items()):
            return None
        missing = sorted({name for name in pairs.values() if clean_classname(name) not in index})
        if missing:
            raise ValueError(
                f"Evaluation images of classes {missing[:5]} are not in the evaluation label space "
                f"({len(classnames)} classes). Check DATASET.SUBSAMPLE_CLASSES and TEST.JOINT."
            )
        table = torch.full((max(pairs) + 1,), -1, dtype=torch.long)
        for label, name in pairs.items():
            table[label] = index[clean_classname(name)]
        return table

    # ------------------------------------------------------------------ splits
    def selection_split(self, purpose):
        """The validation items to select on for ``purpose`` (e.g. "the alpha/beta search").

        Raises :class:`SelectionOnTestError` when the validation split shares images with the test
        split, and ``ValueError`` when there is no validation split; never falls back to test.
        """
        dataset = self.dm.dataset
        if not dataset.val:
            raise ValueError(
                f"{purpose} needs a validation split, but dataset {type(dataset).__name__} has none. "
                "Selection on the test split is not allowed: use the last epoch (TEST.FINAL_MODEL last_step)."
            )
        shared = shared_images(dataset.val, dataset.test)
        if shared:
            example = sorted(shared)[0]
            raise SelectionOnTestError(
                f"{purpose} would select on the test split: the validation split of {type(dataset).__name__} shares "
                f"{len(shared)} of its {len(dataset.val)} images with the test split (e.g. \"{example}\"). Use a dataset "
                "whose validation images are disjoint from its test images (this project's ImageNet draws them from "
                "the training images), or use the last epoch (TEST.FINAL_MODEL last_step) and no search."
            )
        return dataset.val

    def split_loader(self, split):
        """(split name, loader, items) for ``val`` (a selection split: never the test images) or ``test``."""
        if split == "val":
            items = self.selection_split("Evaluation on the validation split")
            return "val", self.val_loader, items
        return "test", self.test_loader, self.dm.dataset.test

    # ------------------------------------------------------------------ the test loop
    @torch.no_grad()
    def test(self, split=None):
        """Evaluate with the engine's printed lines, then record the evaluation in results.json."""
        self.set_model_mode("eval")
        self.evaluator.reset()
        split, loader, data_source = self.split_loader(split or self.cfg.TEST.SPLIT)
        classnames = self.get_eval_classnames()
        mapping = self.label_map(data_source, classnames) if self.cfg.TEST.JOINT else None
        print(f"Evaluate on the *{split}* set")
        self._text_cache = {}
        y_true, y_pred = [], []
        try:
            for batch in progress_bar(loader, desc=f"Evaluating ({split})", leave=False):
                features, labels = self.batch_features(batch)
                if mapping is not None:
                    labels = mapping.to(labels.device)[labels]
                output = self.logits_from_features(features)
                self.evaluator.process(output, labels)
                y_true.append(labels.cpu())
                y_pred.append(output.argmax(dim=1).cpu())
        finally:
            self._text_cache = None
        joint_sets = self.joint_class_sets if self.cfg.TEST.JOINT else None
        metrics, first = finish_evaluation(self, split, y_true, y_pred, classnames, joint_sets)
        self.record(split, metrics)
        return first

    @torch.no_grad()
    def model_inference(self, images):
        """Logits of a batch of images (the engine's hook; the test loop above uses ``batch_features``)."""
        return self.logits_from_features(self.encode_images(images))

    # ------------------------------------------------------------------ results.json
    def model_epoch(self):
        """Epochs the evaluated weights were trained for (from training or the loaded checkpoint; 0 if none)."""
        return int(getattr(self, "_model_epoch", 0) or 0)

    def evaluation_classes(self):
        return "joint" if self.cfg.TEST.JOINT else str(self.cfg.DATASET.SUBSAMPLE_CLASSES)

    def run_info(self):
        """The run description stored next to every evaluation (see :func:`shipclip.provenance.run_info`)."""
        from shipclip.provenance import run_info

        return run_info(self)

    def record(self, split, metrics):
        from shipclip.results import record_evaluation

        evaluation = {"split": split, "epoch": self.model_epoch(), "classes": self.evaluation_classes(),
                      "metrics": metrics}
        record_evaluation(self.output_dir, self.run_info(), evaluation)

"""The test loop of ``SHIP+<Name>`` trainers: Dassl's flow and lines, joint metrics, results.json.

It follows ``SimpleTrainer.test`` (same split choice, same printed ``Evaluate on the *test* set`` and
evaluator block, same scalars), with the trainer's ``parse_batch_test`` / ``model_inference`` (which
restrict the union logits to the evaluated classes), then prints the joint (GZSL) lines when
``TEST.JOINT`` is on and records the evaluation in ``results.json`` with the run's provenance.
"""
import torch

from shipclip.provenance import run_info

__all__ = ["evaluate_lab_trainer"]


def _model_epoch(trainer, info):
    if trainer._ship_trained_epochs is not None:
        return trainer._ship_trained_epochs
    load_epoch = info.get("load_epoch")
    return int(load_epoch) if isinstance(load_epoch, int) else None


@torch.no_grad()
def evaluate_lab_trainer(trainer, split=None):
    from shipclip.progress import progress_bar
    from shipclip.results import record_evaluation
    from shipclip.ship.label_space import joint_class_sets
    from shipclip.trainers.evaluation import finish_evaluation

    cfg = trainer.cfg
    trainer.set_model_mode("eval")
    trainer.evaluator.reset()
    split = split or cfg.TEST.SPLIT
    if split == "val" and trainer.val_loader is not None:
        loader = trainer.val_loader
    else:
        split, loader = "test", trainer.test_loader
    print(f"Evaluate on the *{split}* set")
    y_true, y_pred = [], []
    for batch in progress_bar(loader, leave=False):
        images, labels = trainer.parse_batch_test(batch)
        output = trainer.model_inference(images)
        trainer.evaluator.process(output, labels)
        y_true.append(labels.cpu())
        y_pred.append(output.argmax(dim=1).cpu())
    joint_sets = (lambda: joint_class_sets(cfg, trainer.dm.dataset)) if cfg.TEST.JOINT else None
    metrics, first = finish_evaluation(trainer, split, y_true, y_pred, trainer.ship_eval_classnames, joint_sets)
    info = run_info(trainer)
    classes = "joint" if cfg.TEST.JOINT else str(getattr(cfg.DATASET, "SUBSAMPLE_CLASSES", "all"))
    record_evaluation(trainer.output_dir, info, {"split": split, "epoch": _model_epoch(trainer, info),
                                                 "classes": classes, "metrics": metrics})
    return first

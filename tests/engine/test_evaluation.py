"""Classification evaluator (printed lines, macro-F1, per-class, confusion matrix) and top-k accuracy."""
import re

import pytest
import torch

from shipclip.engine.config import get_cfg_default
from shipclip.engine.evaluation import Classification, build_evaluator, confusion_matrix, macro_f1_score
from shipclip.engine.metrics import compute_accuracy

ACC_RE = re.compile(r"\* accuracy: ([\.\deE+-]+)%")  # CoOp's parse_test_res.py pattern


def _cfg(tmp_path=None, per_class=False, cmat=False):
    cfg = get_cfg_default()
    cfg.TEST.PER_CLASS_RESULT = per_class
    cfg.TEST.COMPUTE_CMAT = cmat
    if tmp_path is not None:
        cfg.OUTPUT_DIR = str(tmp_path)
    return cfg


def _logits_for(pred, num_classes):
    out = torch.randn(len(pred), num_classes) * 0.1
    out[torch.arange(len(pred)), torch.tensor(pred)] = 5.0
    return out


def test_build_evaluator(capsys):
    ev = build_evaluator(_cfg(), lab2cname={0: "a"})
    assert isinstance(ev, Classification)
    assert "Loading evaluator: Classification" in capsys.readouterr().out
    cfg = _cfg()
    cfg.VERBOSE = False
    build_evaluator(cfg)
    assert capsys.readouterr().out == ""
    cfg.TEST.EVALUATOR = "Clasification"
    with pytest.raises(ValueError, match='Did you mean "Classification"'):
        build_evaluator(cfg)


def test_macro_f1_by_hand():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0]
    # label 0: TP 1, FP 1, FN 1 -> P 1/2, R 1/2, F1 1/2
    # label 1: TP 2, FP 1, FN 0 -> P 2/3, R 1,   F1 4/5
    # label 2: TP 1, FP 0, FN 1 -> P 1,   R 1/2, F1 2/3
    assert macro_f1_score(y_true, y_pred) == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    # A label that is only predicted does not enter the average (labels come from the ground truth).
    assert macro_f1_score([0, 0, 1], [0, 2, 1]) == pytest.approx((2 / 3 + 1) / 2)
    assert macro_f1_score([0, 0, 1], [0, 2, 1], labels=[0, 1, 2]) == pytest.approx((2 / 3 + 1 + 0) / 3)


def test_printed_lines_parse_and_agree(capsys):
    ev = Classification(_cfg())
    torch.manual_seed(0)
    num_classes = 5
    y_true = torch.randint(0, num_classes, (1234,))
    y_pred = torch.where(torch.rand(1234) < 0.7, y_true, torch.randint(0, num_classes, (1234,)))
    for start in range(0, 1234, 100):  # several batches
        ev.process(_logits_for(y_pred[start:start + 100].tolist(), num_classes), y_true[start:start + 100])
    res = ev.evaluate()
    out = capsys.readouterr().out
    lines = out.strip().splitlines()

    correct = int((y_true == y_pred).sum())
    acc = 100.0 * correct / 1234
    assert list(res) == ["accuracy", "error_rate", "macro_f1"]
    assert res["accuracy"] == pytest.approx(acc) and res["error_rate"] == pytest.approx(100 - acc)
    assert res["macro_f1"] == pytest.approx(100 * macro_f1_score(y_true.tolist(), y_pred.tolist()))
    assert lines[:3] == ["=> result", "* total: 1,234", f"* correct: {correct:,}"]
    assert lines[3] == f"* accuracy: {acc:.1f}%"
    assert float(ACC_RE.findall(out)[-1]) == round(res["accuracy"], 1)
    assert float(re.search(r"\* error: ([\d.]+)%", out).group(1)) == round(res["error_rate"], 1)
    assert float(re.search(r"\* macro_f1: ([\d.]+)%", out).group(1)) == round(res["macro_f1"], 1)
    assert ev.last_summary == {"total": 1234, "correct": correct, **res}

    ev.reset()
    ev.process(_logits_for([1, 1], 3), torch.tensor([1, 0]))
    assert ev.evaluate()["accuracy"] == 50.0  # reset forgot the earlier batches


def test_per_class_block(capsys):
    ev = Classification(_cfg(per_class=True), lab2cname={0: "cat", 1: "dog", 2: "owl"})
    ev.process(_logits_for([0, 0, 1, 2, 2, 2], 3), torch.tensor([0, 1, 1, 2, 2, 0]))
    res = ev.evaluate()
    out = capsys.readouterr().out
    assert "=> per-class result" in out
    assert "* class: 0 (cat)\ttotal: 2\tcorrect: 1\tacc: 50.0%" in out
    assert "* class: 1 (dog)\ttotal: 2\tcorrect: 1\tacc: 50.0%" in out
    assert "* class: 2 (owl)\ttotal: 2\tcorrect: 2\tacc: 100.0%" in out
    assert res["perclass_accuracy"] == pytest.approx(200 / 3)
    assert "* average: 66.7%" in out
    with pytest.raises(ValueError, match="lab2cname"):
        Classification(_cfg(per_class=True))


def test_confusion_matrix_saved(tmp_path, capsys):
    ev = Classification(_cfg(tmp_path, cmat=True))
    ev.process(_logits_for([0, 1, 1, 2], 3), torch.tensor([0, 0, 1, 1]))
    ev.evaluate()
    path = tmp_path / "cmat.pt"
    assert f"Confusion matrix is saved to {path}" in capsys.readouterr().out
    cmat = torch.load(str(path), weights_only=True)
    expected = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 0.0]], dtype=torch.float64)
    assert torch.equal(cmat, expected)
    mat, labels = confusion_matrix([3, 3, 5], [3, 5, 5], normalize=False)
    assert labels.tolist() == [3, 5] and mat.tolist() == [[1, 1], [0, 1]]


def test_evaluate_without_data_is_explained():
    with pytest.raises(RuntimeError, match="process"):
        Classification(_cfg()).evaluate()


def test_compute_accuracy_topk():
    output = torch.tensor([[0.1, 0.5, 0.4],   # top1 1, top2 {1, 2}
                           [0.7, 0.2, 0.1],   # top1 0, top2 {0, 1}
                           [0.2, 0.3, 0.5],   # top1 2, top2 {2, 1}
                           [0.3, 0.3001, 0.4]])  # top1 2, top2 {2, 1}
    target = torch.tensor([2, 0, 0, 1])
    top1, top2 = compute_accuracy(output, target, topk=(1, 2))
    assert top1.shape == (1,) and top1.item() == pytest.approx(25.0)
    assert top2.item() == pytest.approx(75.0)
    (acc,) = compute_accuracy((output, torch.zeros(4, 3)), target)
    assert acc.item() == pytest.approx(25.0)
    with pytest.raises(ValueError, match="targets"):
        compute_accuracy(output, torch.tensor([0, 1]))

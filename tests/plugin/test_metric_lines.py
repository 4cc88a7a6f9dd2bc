"""Every metric line we print is read by CoOp's parse_test_res.py (``* <keyword>: <number>%``)."""
import re

import pytest


def coop_regex(keyword):
    """parse_test_res.py's pattern for --keyword (from the spec)."""
    return re.compile(rf"\* {keyword}: ([\.\deE+-]+)%")


def last_match(lines, keyword):
    values = [float(m.group(1)) for line in lines for m in [coop_regex(keyword).search(line.strip())] if m]
    return values[-1] if values else None


JOINT = {"seen": 63.84, "unseen": 49.25, "harmonic": 55.6, "num_seen_classes": 150, "num_unseen_classes": 50}


@pytest.mark.parametrize("keyword", ["seen", "unseen", "harmonic"])
def test_joint_lines_parse_per_keyword(keyword):
    from shipclip.metric_lines import joint_result_lines

    assert last_match(joint_result_lines(JOINT), keyword) == round(JOINT[keyword], 1)


def test_richer_lines_are_kept_and_do_not_shadow_the_short_ones():
    from shipclip.metric_lines import joint_result_lines

    lines = joint_result_lines(JOINT)
    assert "* seen (per-class mean): 63.8% over 150 classes" in lines
    assert "* unseen (per-class mean): 49.2% over 50 classes" in lines
    assert sum(bool(coop_regex("seen").search(line)) for line in lines) == 1  # "* unseen" is not "* seen"


def test_evaluator_block_parses_per_keyword(capsys):
    import torch

    from shipclip.engine.evaluation import Classification
    from shipclip.engine.config import get_cfg_default

    evaluator = Classification(get_cfg_default())
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [2.0, 0.0]])
    evaluator.process(logits, torch.tensor([0, 1, 1, 1]))
    evaluator.evaluate()
    lines = capsys.readouterr().out.splitlines()
    assert last_match(lines, "accuracy") == 50.0 and last_match(lines, "error") == 50.0
    assert last_match(lines, "macro_f1") == 50.0  # F1 of both classes: 2 / (2 + 2) = 0.5

"""Metric lines printed after an evaluation, in the form CoOp's ``parse_test_res.py`` reads.

``parse_test_res.py --keyword <name>`` matches ``* <name>: <number>%`` (after the ``Finish training``
or ``=> result`` line). Every metric we print therefore has such a line; richer lines (with class
counts) follow, under names the short ones do not collide with.
"""

__all__ = ["joint_result_lines", "print_joint_result"]


def joint_result_lines(joint):
    """The joint (GZSL) block: ``* seen: x%``, ``* unseen: x%``, ``* harmonic: x%``, then the class counts.

    ``joint`` holds ``seen``, ``unseen``, ``harmonic`` (percent) and ``num_seen_classes``/``num_unseen_classes``.
    """
    return [
        "=> joint label space result",
        f"* seen: {joint['seen']:.1f}%",
        f"* unseen: {joint['unseen']:.1f}%",
        f"* harmonic: {joint['harmonic']:.1f}%",
        f"* seen (per-class mean): {joint['seen']:.1f}% over {joint['num_seen_classes']} classes",
        f"* unseen (per-class mean): {joint['unseen']:.1f}% over {joint['num_unseen_classes']} classes",
    ]


def print_joint_result(joint):
    for line in joint_result_lines(joint):
        print(line)

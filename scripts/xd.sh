#!/usr/bin/env bash
# Cross-dataset transfer and domain generalization: train on the source (ImageNet, all classes,
# $SHOTS shots), then evaluate the saved model on each target dataset, then print the table.
#
#   bash scripts/xd.sh TRAINER [CFG]
#
# Outputs:
#   $OUTPUT/xd/train/<source>/shots_<SHOTS>/<trainer>/<cfg>/seed<S>             (source model)
#   $OUTPUT/xd/test/<target>/shots_<SHOTS>/<trainer>/<cfg>/seed<S>              (target accuracy)
# SHIP trainers treat the target's class names as label-only classes
# (TRAINER.SHIP.LABEL_ONLY all-target TRAINER.SHIP.TARGET_DATASET <target>), so the trained model
# depends on the target: for them the training step runs once per target, into
#   $OUTPUT/xd/train/<source>/shots_<SHOTS>/<trainer>/<cfg>/to_<target>/seed<S>
# ZeroshotCLIP trainers are evaluated (eval-only, no model) on the source and on every target.
# Environment (besides scripts/common.sh): SOURCE (default imagenet), TARGETS (cross-dataset
# targets, default the 10 other CoOp datasets), DG_TARGETS (domain generalization targets, default
# imagenetv2 imagenet_sketch imagenet_a imagenet_r; set it to "" to skip them).
# The evaluation steps load no shots and no class subset, as CoOp's xd_test.sh.
# Launchers: LAUNCHER=serial|local|slurm runs the grid one by one, N at a time here, or as a
# Slurm job array (scripts/common.sh, docs/SWEEPS.md).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
    -h | --help) usage 0 ;;
esac
[[ $# -ge 1 && $# -le 2 ]] || usage 2
sweep xd "$@"

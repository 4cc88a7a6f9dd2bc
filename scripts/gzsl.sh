#!/usr/bin/env bash
# Generalized zero-shot learning: train on the seen classes, then evaluate the saved model on the
# test images of seen and unseen classes in the joint label space (U, S, H), then print the table.
#
#   bash scripts/gzsl.sh TRAINER [CFG]
#
# Outputs:
#   $OUTPUT/gzsl/train_seen/<dataset>/shots_<SHOTS>/<trainer>/<cfg>/seed<S>   (seen classes only)
#   $OUTPUT/gzsl/test_joint/<dataset>/shots_<SHOTS>/<trainer>/<cfg>/seed<S>   (joint: U / S / H)
# Training uses DATASET.SUBSAMPLE_CLASSES base (seen), the evaluation DATASET.SUBSAMPLE_CLASSES all
# with TEST.JOINT True. Environment (besides scripts/common.sh): DATASETS (default
# "gzsl_cub gzsl_awa2 gzsl_sun"); the 11 CoOp datasets work too (base = seen, new = unseen).
# ZeroshotCLIP trainers are evaluated (eval-only, no model) in both steps.
# Launchers: LAUNCHER=serial|local|slurm runs the grid one by one, N at a time here, or as a
# Slurm job array (scripts/common.sh, docs/SWEEPS.md).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
    -h | --help) usage 0 ;;
esac
[[ $# -ge 1 && $# -le 2 ]] || usage 2
sweep gzsl "$@"

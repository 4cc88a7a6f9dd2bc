#!/usr/bin/env bash
# Base-to-new generalization (CoCoOp's protocol): for each seed, train on the base classes
# (first half of the labels) and evaluate the saved model on the new classes, then print the table.
#
#   bash scripts/base2new.sh DATASET TRAINER [CFG]
#   bash scripts/base2new.sh            # built-in default: ToyWorld, ZeroshotCLIP / CoOp / SHIP_CoOp
#
# DATASET is a name from configs/datasets (oxford_pets, imagenet, ...) or a YAML path; CFG a name
# from configs/trainers/<TRAINER>/ or a YAML path (default: the protocol's usual config, e.g.
# vit_b16_ctxv1 for CoOp, vit_b16_c4_ep10_batch1_ctxv1 for CoCoOp). ZeroshotCLIP trainers are
# evaluated (eval-only, no model) on both halves. Outputs:
#   $OUTPUT/base2new/train_base/<dataset>/shots_<SHOTS>/<trainer>/<cfg>/seed<S>   (Base accuracy)
#   $OUTPUT/base2new/test_new/<dataset>/shots_<SHOTS>/<trainer>/<cfg>/seed<S>     (New accuracy)
# Environment: see scripts/common.sh (DATA, OUTPUT, SEEDS, SHOTS, OPTS, PYTHON, LOADEP, DRY_RUN, ...),
# and LAUNCHER=serial|local|slurm to run the grid one by one, N at a time here, or on Slurm
# (e.g. LAUNCHER=local WORKERS=2 bash scripts/base2new.sh; docs/SWEEPS.md).
# Built-in default only: TRAINERS (default "ZeroshotCLIP CoOp SHIP_CoOp"), CFG (default toyworld),
# SEEDS (default "1"), TOYWORLD_ARGS (extra arguments of `python -m shipclip.toyworld.prepare`,
# e.g. --quick); DATA, when set, is passed to it as --root.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
    -h | --help) usage 0 ;;
esac
[[ $# -eq 0 || ( $# -ge 2 && $# -le 3 ) ]] || usage 2
sweep base2new "$@"

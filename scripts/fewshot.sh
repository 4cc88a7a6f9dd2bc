#!/usr/bin/env bash
# Few-shot learning on all classes: for each shot count and seed, train and test, then print the
# table (accuracy per shot count).
#
#   bash scripts/fewshot.sh DATASET TRAINER [CFG]
#
# Output: $OUTPUT/fewshot/<dataset>/shots_<K>/<trainer>/<cfg>/seed<S>
# SHOTS is a list here (default "1 2 4 8 16"). ZeroshotCLIP trainers use no shots: they are
# evaluated once per seed (eval-only) into shots_0. CoOp's recommended schedules differ per shot
# count (1 shot: *_ep50, 2-4 shots: *_ep100, 8-16 shots: 200 epochs): run one shot count per call
# (SHOTS=1 ... vit_b16_ep50) to follow them. Environment: see scripts/common.sh.
# Launchers: LAUNCHER=serial|local|slurm runs the grid one by one, N at a time here, or as a
# Slurm job array (scripts/common.sh, docs/SWEEPS.md).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
    -h | --help) usage 0 ;;
esac
[[ $# -ge 2 && $# -le 3 ]] || usage 2
sweep fewshot "$@"

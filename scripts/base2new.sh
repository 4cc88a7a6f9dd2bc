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
# Environment: see scripts/common.sh (DATA, OUTPUT, SEEDS, SHOTS, OPTS, PYTHON, LOADEP, DRY_RUN, ...).
# Built-in default only: TRAINERS (default "ZeroshotCLIP CoOp SHIP_CoOp"), CFG (default toyworld),
# SEEDS (default "1"), TOYWORLD_ARGS (extra arguments of `python -m shipclip.toyworld.prepare`,
# e.g. --quick); DATA, when set, is passed to it as --root.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    SEEDS="${SEEDS:-1}"
fi
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Build (or reuse) ToyWorld and its micro-CLIP; sets TOYWORLD_ROOT, TOYWORLD_BACKBONE, TOYWORLD_WEIGHTS
# from the KEY=VALUE lines the preparation prints last.
toyworld_prepare() {
    local cmd=("$PYTHON" -m shipclip.toyworld.prepare) extra out
    if [[ -n ${DATA:-} ]]; then
        cmd+=(--root "$DATA")
    fi
    read -r -a extra <<< "${TOYWORLD_ARGS:-}"
    cmd+=(${extra[@]+"${extra[@]}"})
    if [[ $DRY_RUN == 1 ]]; then
        show_cmd "${cmd[@]}"
        TOYWORLD_ROOT="<TOYWORLD_ROOT>" TOYWORLD_BACKBONE="<TOYWORLD_BACKBONE>" TOYWORLD_WEIGHTS="<TOYWORLD_WEIGHTS>"
        return 0
    fi
    show_cmd "${cmd[@]}"
    exec 3>&1
    out=$("${cmd[@]}" | tee /dev/fd/3)
    exec 3>&-
    TOYWORLD_ROOT=$(sed -n 's/^TOYWORLD_ROOT=//p' <<< "$out" | tail -n 1)
    TOYWORLD_BACKBONE=$(sed -n 's/^TOYWORLD_BACKBONE=//p' <<< "$out" | tail -n 1)
    TOYWORLD_WEIGHTS=$(sed -n 's/^TOYWORLD_WEIGHTS=//p' <<< "$out" | tail -n 1)
    if [[ -z $TOYWORLD_ROOT || -z $TOYWORLD_BACKBONE || -z $TOYWORLD_WEIGHTS ]]; then
        die "${cmd[*]} did not print the TOYWORLD_ROOT=, TOYWORLD_BACKBONE= and TOYWORLD_WEIGHTS= lines."
    fi
}

case "${1:-}" in
    -h | --help) usage 0 ;;
esac

if [[ $# -eq 0 ]]; then
    toyworld_prepare
    DATA=$TOYWORLD_ROOT
    for trainer in ${TRAINERS:-ZeroshotCLIP CoOp SHIP_CoOp}; do
        base2new_dataset "$OUTPUT" toyworld "$trainer" "${CFG:-toyworld}" \
            MODEL.BACKBONE.NAME "$TOYWORLD_BACKBONE" MODEL.BACKBONE.PRETRAINED "$TOYWORLD_WEIGHTS"
    done
    print_table "$OUTPUT" --protocol base2new
    exit 0
fi

[[ $# -ge 2 && $# -le 3 ]] || usage 2
DATASET=$1
TRAINER=$2
CFG=${3:-$(default_cfg "$TRAINER" base2new)}
require_data
base2new_dataset "$OUTPUT" "$DATASET" "$TRAINER" "$CFG"
print_table "$OUTPUT" --protocol base2new

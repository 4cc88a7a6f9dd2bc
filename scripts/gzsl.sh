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
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
    -h | --help) usage 0 ;;
esac
[[ $# -ge 1 && $# -le 2 ]] || usage 2
TRAINER=$1
CFG=${2:-$(default_cfg "$TRAINER" gzsl)}
DATASETS="${DATASETS:-gzsl_cub gzsl_awa2 gzsl_sun}"
require_data

tcfg=$(trainer_yaml "$TRAINER" "$CFG")
cname=$(yaml_stem "$tcfg")
for dataset in $DATASETS; do
    dcfg=$(dataset_yaml "$dataset")
    dname=$(yaml_stem "$dcfg")
    for seed in $SEEDS; do
        sub="$dname/shots_$SHOTS/$TRAINER/$cname/seed$seed"
        train_dir="$OUTPUT/gzsl/train_seen/$sub"
        echo "== gzsl $dname $TRAINER/$cname seed $seed: seen classes"
        model="-"
        is_zeroshot "$TRAINER" && model=""
        run_step "$train_dir" "$seed" "$TRAINER" "$dcfg" "$tcfg" "$model" \
            DATASET.NUM_SHOTS "$SHOTS" DATASET.SUBSAMPLE_CLASSES base
        echo "== gzsl $dname $TRAINER/$cname seed $seed: joint label space"
        model=$train_dir
        is_zeroshot "$TRAINER" && model=""
        run_step "$OUTPUT/gzsl/test_joint/$sub" "$seed" "$TRAINER" "$dcfg" "$tcfg" "$model" \
            DATASET.NUM_SHOTS "$SHOTS" DATASET.SUBSAMPLE_CLASSES all TEST.JOINT True
    done
done
print_table "$OUTPUT" --protocol gzsl

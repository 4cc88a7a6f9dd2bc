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
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
    -h | --help) usage 0 ;;
esac
[[ $# -ge 1 && $# -le 2 ]] || usage 2
TRAINER=$1
CFG=${2:-$(default_cfg "$TRAINER" xd)}
SOURCE="${SOURCE:-imagenet}"
TARGETS="${TARGETS-caltech101 oxford_pets stanford_cars oxford_flowers food101 fgvc_aircraft sun397 dtd eurosat ucf101}"
DG_TARGETS="${DG_TARGETS-imagenetv2 imagenet_sketch imagenet_a imagenet_r}"
require_data

src_cfg=$(dataset_yaml "$SOURCE")
src_name=$(yaml_stem "$src_cfg")
tcfg=$(trainer_yaml "$TRAINER" "$CFG")
cname=$(yaml_stem "$tcfg")
model_root="$OUTPUT/xd/train/$src_name/shots_$SHOTS/$TRAINER/$cname"

for seed in $SEEDS; do
    shared_model="$model_root/seed$seed"
    if ! is_ship "$TRAINER"; then
        echo "== xd $TRAINER/$cname seed $seed: source $src_name"
        model="-"
        is_zeroshot "$TRAINER" && model=""
        run_step "$shared_model" "$seed" "$TRAINER" "$src_cfg" "$tcfg" "$model" DATASET.NUM_SHOTS "$SHOTS"
    fi
    for target in $TARGETS $DG_TARGETS; do
        tgt_cfg=$(dataset_yaml "$target")
        tgt_name=$(yaml_stem "$tgt_cfg")
        ship=()
        model=$shared_model
        if is_ship "$TRAINER"; then
            ship=(TRAINER.SHIP.LABEL_ONLY all-target TRAINER.SHIP.TARGET_DATASET "$tgt_name")
            model="$model_root/to_$tgt_name/seed$seed"
            echo "== xd $TRAINER/$cname seed $seed: source $src_name with $tgt_name's classes as label-only"
            run_step "$model" "$seed" "$TRAINER" "$src_cfg" "$tcfg" "-" DATASET.NUM_SHOTS "$SHOTS" "${ship[@]}"
        fi
        is_zeroshot "$TRAINER" && model=""
        echo "== xd $TRAINER/$cname seed $seed: target $tgt_name"
        run_step "$OUTPUT/xd/test/$tgt_name/shots_$SHOTS/$TRAINER/$cname/seed$seed" "$seed" "$TRAINER" \
            "$tgt_cfg" "$tcfg" "$model" ${ship[@]+"${ship[@]}"}
    done
done
print_table "$OUTPUT" --protocol xd

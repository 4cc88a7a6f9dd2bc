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
set -euo pipefail
SHOTS="${SHOTS:-1 2 4 8 16}"
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
    -h | --help) usage 0 ;;
esac
[[ $# -ge 2 && $# -le 3 ]] || usage 2
DATASET=$1
TRAINER=$2
CFG=${3:-$(default_cfg "$TRAINER" fewshot)}
require_data

dcfg=$(dataset_yaml "$DATASET")
dname=$(yaml_stem "$dcfg")
tcfg=$(trainer_yaml "$TRAINER" "$CFG")
cname=$(yaml_stem "$tcfg")
shot_list=$SHOTS
is_zeroshot "$TRAINER" && shot_list=0
for shots in $shot_list; do
    for seed in $SEEDS; do
        out="$OUTPUT/fewshot/$dname/shots_$shots/$TRAINER/$cname/seed$seed"
        echo "== fewshot $dname $TRAINER/$cname $shots shots seed $seed"
        if is_zeroshot "$TRAINER"; then
            run_step "$out" "$seed" "$TRAINER" "$dcfg" "$tcfg" ""
        else
            run_step "$out" "$seed" "$TRAINER" "$dcfg" "$tcfg" "-" DATASET.NUM_SHOTS "$shots"
        fi
    done
done
print_table "$OUTPUT" --protocol fewshot

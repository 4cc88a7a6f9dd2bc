#!/usr/bin/env bash
# Ablations: run the base-to-new protocol once per variant (a set of yacs overrides) with a SHIP
# trainer, then print the variants side by side.
#
#   bash scripts/ablation.sh DATASET                        # built-in variants (below)
#   bash scripts/ablation.sh DATASET variants.txt           # one variant per line
#   bash scripts/ablation.sh DATASET "TRAINER.SHIP.LAMBDA_KL 0.0" "no_bias: TRAINER.SHIP.USE_BIAS False"
#
# A variant is "name: KEY VALUE ..." or just "KEY VALUE ..." (named from its overrides); in a file,
# blank lines and lines starting with # are ignored; a variant with no overrides is the full method.
# Built-in variants: full, no_kl (LAMBDA_KL 0), global_ctx_only (USE_BIAS False),
# bias_only (USE_GLOBAL_CTX False), mlp_generator (GENERATOR mlp).
# Output: $OUTPUT/ablation/<variant>/base2new/{train_base,test_new}/<dataset>/shots_<SHOTS>/<trainer>/<cfg>/seed<S>
# Environment (besides scripts/common.sh): TRAINER (default SHIP_CoOp), CFG (default vit_b16_ctxv1 for SHIP_CoOp).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
    -h | --help) usage 0 ;;
esac
[[ $# -ge 1 ]] || usage 2
DATASET=$1
shift
TRAINER="${TRAINER:-SHIP_CoOp}"
CFG="${CFG:-$(default_cfg "$TRAINER" ablation)}"
require_data

NAMES=()
OVERRIDES=()

# add_variant "name: KEY VALUE ..." | "KEY VALUE ..." | "name:" | ""
add_variant() {
    local line=$1 name="" first tokens i
    line="${line#"${line%%[![:space:]]*}"}"
    first=${line%%[[:space:]]*}
    if [[ $first == *: ]]; then
        name=${first%:}
        line=${line#"$first"}
    fi
    read -r -a tokens <<< "$line"
    if (( ${#tokens[@]} % 2 != 0 )); then
        die "variant '${1}' has an odd number of override tokens: write KEY VALUE pairs."
    fi
    if [[ -z $name ]]; then
        for (( i = 0; i < ${#tokens[@]}; i += 2 )); do
            name+="${name:+,}${tokens[i]##*.}=${tokens[i+1]}"
        done
        name=${name:-full}
    fi
    name=${name//[^A-Za-z0-9._=,+-]/_}
    for i in "${NAMES[@]+"${NAMES[@]}"}"; do
        [[ $i != "$name" ]] || die "two variants are named '$name': give them distinct names (name: KEY VALUE ...)."
    done
    NAMES+=("$name")
    OVERRIDES+=("${tokens[*]+"${tokens[*]}"}")
}

if [[ $# -eq 0 ]]; then
    add_variant "full:"
    add_variant "no_kl: TRAINER.SHIP.LAMBDA_KL 0.0"
    add_variant "global_ctx_only: TRAINER.SHIP.USE_BIAS False"
    add_variant "bias_only: TRAINER.SHIP.USE_GLOBAL_CTX False"
    add_variant "mlp_generator: TRAINER.SHIP.GENERATOR mlp"
elif [[ $# -eq 1 && $1 != *[[:space:]:]* && ( $1 == */* || $1 == *.txt ) && ! -f $1 ]]; then
    die "variant file $1 not found."
elif [[ $# -eq 1 && -f $1 ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
        [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
        add_variant "$line"
    done < "$1"
    [[ ${#NAMES[@]} -gt 0 ]] || die "$1 holds no variants."
else
    for arg in "$@"; do
        add_variant "$arg"
    done
fi

for i in "${!NAMES[@]}"; do
    read -r -a ov <<< "${OVERRIDES[i]}"
    echo "== ablation variant ${NAMES[i]}: ${OVERRIDES[i]:-(no overrides)}"
    base2new_dataset "$OUTPUT/ablation/${NAMES[i]}" "$DATASET" "$TRAINER" "$CFG" ${ov[@]+"${ov[@]}"}
done
print_table "$OUTPUT/ablation" --protocol ablation

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
# Launchers: LAUNCHER=serial|local|slurm runs the grid one by one, N at a time here, or as a
# Slurm job array (scripts/common.sh, docs/SWEEPS.md).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "${1:-}" in
    -h | --help) usage 0 ;;
esac
[[ $# -ge 1 ]] || usage 2
sweep ablation "$@"

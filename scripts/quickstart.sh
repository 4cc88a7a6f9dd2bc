#!/usr/bin/env bash
# First command on a fresh machine: set up .venv (if missing), install the project, then run the
# built-in default -- base-to-new on the offline ToyWorld benchmark for ZeroshotCLIP, CoOp and
# SHIP_CoOp -- and print the Base / New / H table. Extra arguments are passed to base2new.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -x .venv/bin/python ]]; then
    echo "+ python3 -m venv .venv"
    "${PYTHON3:-python3}" -m venv .venv
fi
if ! .venv/bin/python -c "import shipclip, open_clip" >/dev/null 2>&1; then
    echo "+ installing torch, torchvision and the project into .venv (one time)"
    .venv/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
    .venv/bin/python -m pip install -q -e ".[test]"
fi
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
PYTHON="$PWD/.venv/bin/python" exec bash scripts/base2new.sh "$@"

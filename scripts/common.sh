# Shared helpers of the protocol scripts (base2new.sh, xd.sh, gzsl.sh, fewshot.sh, ablation.sh).
# Sourced, not run. Each script checks its arguments and hands them to `python -m shipclip.sweep`,
# which builds the grid of train.py calls (the same calls, order and output folders as always) and
# runs it with the launcher named by LAUNCHER. Relative OUTPUT / DATA paths are relative to the
# folder the script is called from. Full documentation: docs/SWEEPS.md.
#
# Environment (every script):
#   DATA      dataset root passed to train.py --root (required, except base2new.sh's built-in default)
#   OUTPUT    output root (default: output)
#   SEEDS     seeds to run (default: "1 2 3")
#   SHOTS     shots per class (default: 16; fewshot.sh: "1 2 4 8 16")
#   OPTS      extra yacs options appended to every train.py call, e.g. OPTS="OPTIM.MAX_EPOCH 5"
#             (split on spaces: a value cannot contain spaces)
#   PYTHON    python interpreter (default: python)
#   LOADEP    epoch loaded by the eval-only steps (default: read from the trained model's
#             <model_dir>/<model>/checkpoint pointer when the step starts, i.e. the last saved epoch;
#             when a model-best.pth.tar exists, --load-epoch is omitted so the best-on-validation
#             model is loaded, as Dassl's load_model does)
#   TRAIN_PY  training entry point (default: <repo>/train.py)
#   CONFIGS   config folder holding trainers/<TRAINER>/<CFG>.yaml and datasets/<DATASET>.yaml
#             (default: <repo>/configs); CFG and DATASET may also be paths to YAML files
#   DRY_RUN=1 print the plan (every command, and the launcher's plan) without running anything
#   SWEEP_PLAN=FILE  also write the grid (commands, output folders, dependencies) to FILE as JSON
#
# Launchers (the grid is the same for all of them):
#   LAUNCHER=serial  one run after the other, output on the terminal (default)
#   LAUNCHER=local   WORKERS=N runs at a time on this machine; GPUS="0 1 ..." pins each worker to
#                    one GPU (CUDA_VISIBLE_DEVICES), without GPUS the CPU cores are divided
#                    (OMP_NUM_THREADS = cores // WORKERS unless already set); consoles go to
#                    $OUTPUT/.sweep/logs/<run>.log
#   LAUNCHER=slurm   a Slurm job array through submitit (pip install -e '.[slurm]'), one array task
#                    per chain of dependent runs; settings SWEEP_SLURM_PARTITION, SWEEP_SLURM_TIME,
#                    SWEEP_SLURM_GPUS_PER_TASK, SWEEP_SLURM_SBATCH, ... or a YAML in SWEEP_SLURM_CONFIG
#
# A run whose output folder holds its final test evaluation (see shipclip.results.is_finished)
# is skipped; an unfinished one is re-run in place (train.py resumes from its last checkpoint); a
# run whose training step failed is not started. A second call after an interruption or a failure
# runs only what is missing. The results table is printed once every run finished.

SHIP_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"

# usage [STATUS]: print the calling script's header comment and exit.
usage() {
    if [[ ${1:-0} != 0 ]]; then
        exec 1>&2
    fi
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit "${1:-0}"
}

# sweep PROTOCOL [ARGS ...]: build the protocol's grid and run it (replaces this shell, so a Ctrl-C
# or a kill reaches the launcher, which stops its runs). shipclip is imported from the installed
# package, else from this repository.
sweep() {
    exec "$PYTHON" -c 'import sys; sys.path.append(sys.argv[1]); from shipclip.sweep.cli import main; sys.exit(main(sys.argv[2:]))' \
        "$SHIP_REPO_ROOT" --repo "$SHIP_REPO_ROOT" "$@"
}

# Shared helpers of the protocol scripts (base2new.sh, xd.sh, gzsl.sh, fewshot.sh, ablation.sh).
# Sourced, not run. Paths are resolved from this file, so the scripts work from any folder; relative
# OUTPUT / DATA paths are relative to the folder the script is called from.
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
#             <model_dir>/<model>/checkpoint pointer, i.e. the last saved epoch; when a
#             model-best.pth.tar exists, --load-epoch is omitted so the best-on-validation model
#             is loaded, as Dassl's load_model does)
#   TRAIN_PY  training entry point (default: <repo>/train.py)
#   CONFIGS   config folder holding trainers/<TRAINER>/<CFG>.yaml and datasets/<DATASET>.yaml
#             (default: <repo>/configs); CFG and DATASET may also be paths to YAML files
#   DRY_RUN=1 print the commands without running them
#
# A step whose output folder holds its final test evaluation (see shipclip.results.is_finished)
# is skipped; an unfinished one is re-run in place (train.py resumes from its last checkpoint).

SHIP_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"
OUTPUT="${OUTPUT:-output}"
SEEDS="${SEEDS:-1 2 3}"
SHOTS="${SHOTS:-16}"
TRAIN_PY="${TRAIN_PY:-$SHIP_REPO_ROOT/train.py}"
RESULTS_PY="$SHIP_REPO_ROOT/scripts/results.py"
CONFIGS="${CONFIGS:-$SHIP_REPO_ROOT/configs}"
DRY_RUN="${DRY_RUN:-0}"
read -r -a OPTS_ARR <<< "${OPTS:-}"

# usage [STATUS]: print the calling script's header comment and exit.
usage() {
    if [[ ${1:-0} != 0 ]]; then
        exec 1>&2
    fi
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit "${1:-0}"
}

die() {
    echo "error: $*" >&2
    exit 1
}

# Print a command the way a shell would read it back.
show_cmd() {
    local out="+" arg
    for arg in "$@"; do
        out+=" $(printf '%q' "$arg")"
    done
    echo "$out"
}

run_cmd() {
    show_cmd "$@"
    if [[ $DRY_RUN == 1 ]]; then
        return 0
    fi
    "$@"
}

require_data() {
    [[ -n ${DATA:-} ]] || die "DATA is not set: export DATA=/path/to/datasets (the folder holding the dataset folders)."
}

is_zeroshot() { [[ $1 == ZeroshotCLIP* ]]; }
is_ship() { [[ $1 == SHIP_* ]]; }

# Default trainer config per protocol (the configs of CoOp's and CoCoOp's published protocols).
# A SHIP trainer uses the config of its base method; SHIP_CoOp has only the ctxv1 recipes.
default_cfg() {
    case "$1:$2" in
        CoOp:xd | SHIP_CoOp:xd) echo vit_b16_ep50_ctxv1 ;;
        CoOp:base2new | CoOp:ablation | SHIP_CoOp:*) echo vit_b16_ctxv1 ;;
        CoCoOp:* | SHIP_CoCoOp:*) echo vit_b16_c4_ep10_batch1_ctxv1 ;;
        *) echo vit_b16 ;;
    esac
}

yaml_stem() {
    local name
    name=$(basename "$1")
    echo "${name%.yaml}"
}

# trainer_yaml TRAINER CFG -> path of the trainer config (CFG: a name or a .yaml path)
trainer_yaml() {
    local trainer=$1 cfg=$2 path available
    if [[ $cfg == *.yaml ]]; then
        path=$cfg
    else
        path="$CONFIGS/trainers/$trainer/$cfg.yaml"
    fi
    if [[ ! -f $path ]]; then
        available=$(cd "$CONFIGS/trainers/$trainer" 2>/dev/null && ls -- *.yaml 2>/dev/null | sed 's/\.yaml$//' | tr '\n' ' ')
        die "trainer config $path not found (configs for $trainer: ${available:-none}). Pass CFG as the second argument or a YAML path."
    fi
    echo "$path"
}

# dataset_yaml DATASET -> path of the dataset config (DATASET: a name like oxford_pets or a .yaml path)
dataset_yaml() {
    local dataset=$1 path available
    if [[ $dataset == *.yaml ]]; then
        path=$dataset
    else
        path="$CONFIGS/datasets/$dataset.yaml"
    fi
    if [[ ! -f $path ]]; then
        available=$(cd "$CONFIGS/datasets" 2>/dev/null && ls -- *.yaml 2>/dev/null | sed 's/\.yaml$//' | tr '\n' ' ')
        die "dataset config $path not found (available: ${available:-none})."
    fi
    echo "$path"
}

# run_state DIR -> "finished" or "unfinished"
run_state() {
    local state logs
    logs=("$1"/log.txt*)
    if [[ ! -f $1/results.json && ! -e ${logs[0]} ]]; then
        echo unfinished  # nothing recorded yet: no need to ask python
        return 0
    fi
    state=$("$PYTHON" - "$1" "$SHIP_REPO_ROOT" <<'PY'
import sys
sys.path.append(sys.argv[2])
from shipclip.results import is_finished
print("finished" if is_finished(sys.argv[1]) else "unfinished")
PY
    ) || die "could not check $1 with $PYTHON (is shipclip installed? run: pip install -e .)"
    echo "$state"
}

# load_epoch_args MODEL_DIR -> fills LOAD_ARGS (see LOADEP above)
load_epoch_args() {
    LOAD_ARGS=()
    if [[ -n ${LOADEP:-} ]]; then
        LOAD_ARGS=(--load-epoch "$LOADEP")
        return 0
    fi
    local pointer name epoch=""
    for pointer in "$1"/*/checkpoint; do
        [[ -f $pointer ]] || continue
        if [[ -f "$(dirname "$pointer")/model-best.pth.tar" ]]; then
            return 0
        fi
        name=$(head -n 1 "$pointer")
        if [[ $name =~ ^model\.pth\.tar-([0-9]+)$ ]]; then
            epoch=${BASH_REMATCH[1]}
        fi
    done
    if [[ -n $epoch ]]; then
        LOAD_ARGS=(--load-epoch "$epoch")
    fi
    return 0
}

# run_step OUT_DIR SEED TRAINER DATASET_YAML TRAINER_YAML MODEL [KEY VALUE ...]
#   MODEL "-": train; "": eval-only without a model (zero-shot); a folder: eval-only of that model.
run_step() {
    local out=$1 seed=$2 trainer=$3 dcfg=$4 tcfg=$5 model=$6
    shift 6
    if [[ $(run_state "$out") == finished ]]; then
        echo "Skip: $out is finished (its results hold the final test evaluation)"
        return 0
    fi
    if [[ -d $out ]]; then
        echo "Resume: $out exists but is unfinished; re-running it in place"
    fi
    local cmd=("$PYTHON" "$TRAIN_PY" --root "$DATA" --seed "$seed" --trainer "$trainer"
        --dataset-config-file "$dcfg" --config-file "$tcfg" --output-dir "$out")
    if [[ $model != "-" ]]; then
        cmd+=(--eval-only)
        if [[ -n $model ]]; then
            load_epoch_args "$model"
            cmd+=(--model-dir "$model" ${LOAD_ARGS[@]+"${LOAD_ARGS[@]}"})
        fi
    fi
    cmd+=("$@" ${OPTS_ARR[@]+"${OPTS_ARR[@]}"})
    run_cmd "${cmd[@]}"
}

# base2new_dataset OUT_ROOT DATASET TRAINER CFG [KEY VALUE ...]: train on base classes, evaluate on
# new classes, for every seed; the extra options go to both steps.
base2new_dataset() {
    local root=$1 dataset=$2 trainer=$3 cfg=$4
    shift 4
    local dcfg tcfg dname cname seed sub train_dir model
    dcfg=$(dataset_yaml "$dataset")
    tcfg=$(trainer_yaml "$trainer" "$cfg")
    dname=$(yaml_stem "$dcfg")
    cname=$(yaml_stem "$tcfg")
    for seed in $SEEDS; do
        sub="$dname/shots_$SHOTS/$trainer/$cname/seed$seed"
        train_dir="$root/base2new/train_base/$sub"
        echo "== base2new $dname $trainer/$cname seed $seed: base classes"
        model="-"
        is_zeroshot "$trainer" && model=""
        run_step "$train_dir" "$seed" "$trainer" "$dcfg" "$tcfg" "$model" \
            DATASET.NUM_SHOTS "$SHOTS" DATASET.SUBSAMPLE_CLASSES base "$@"
        echo "== base2new $dname $trainer/$cname seed $seed: new classes"
        model=$train_dir
        is_zeroshot "$trainer" && model=""
        run_step "$root/base2new/test_new/$sub" "$seed" "$trainer" "$dcfg" "$tcfg" "$model" \
            DATASET.NUM_SHOTS "$SHOTS" DATASET.SUBSAMPLE_CLASSES new "$@"
    done
}

# print_table ROOT [results.py options]
print_table() {
    local root=$1
    shift
    run_cmd "$PYTHON" "$RESULTS_PY" "$root" "$@"
}

#!/usr/bin/env bash
# Measure the GPU figures of benchmarks/RESULTS.md in one device call per stage.
#
# First, on the development machine: EG3D_SRC=/path/to/eg3d bash benchmarks/gpu_prepare.sh  (fills the git-ignored
# .gpu/: the official EG3D code from a checkout or mirror of https://github.com/NVlabs/eg3d, wheels of the packages
# the GPU machine lacks, the PTI benchmark's aligned photo). Then, with the device tool, from the repository root,
# one call per stage, carrying .gpu:
#
#   run(command="bash benchmarks/gpu_suite.sh eg3d", carry=[".gpu"], timeout_s=600)
#
# Stages (each ends inside BUDGET_S = 570 s, so inside one 10-minute call):
#   eg3d      build the official custom CUDA ops, then benchmarks/eg3d_speed.py ours vs official:
#             batch 1, batch 8, batch 8 with ours in bf16 (if the script has --precision)
#   generate  build the official ops, then benchmarks/generate_speed.py ours vs official: batch 1 with 256³
#             meshes and the stage breakdown; ours at batch 16 in fp32 and in bf16
#   pti       benchmarks/pti_speed.py, full-size random generator, 20 timed steps per stage, fp32; then
#             benchmarks/depth_speed.py --device cuda; then PTI in bf16 (each only if the budget allows)
#   depth     benchmarks/depth_speed.py --device cuda alone
#   all       eg3d, generate, pti in sequence: does NOT fit one 10-minute call (later steps are skipped when
#             the budget runs out); for a longer budget: BUDGET_S=3600 bash benchmarks/gpu_suite.sh all
#
# Every benchmark runs under `timeout` (its own cap, cut to what is left of the budget; a step that no longer
# fits is skipped and reported). Logs: $OUT/<stage>.log (all commands of that part, each under a "=====" header
# with its command line), $OUT/env.log (nvidia-smi, torch and package facts), $OUT/official-ops.log and
# $OUT/summary.txt (statuses and result lines; also printed at the end, so the call's output tail has them).
# If the official custom ops fail to build, the official model runs on its reference PyTorch ops instead
# (OFFICIAL_OPS=reference; slower than its real GPU path: the summary says so).
#
# Smoke test on a CPU machine, seconds-long settings (tiny generator, small meshes, 1 repeat), which also
# hides the packages the GPU machine lacks unless .gpu/whl carries them (run it before spending GPU time):
#   SMOKE=1 PYTHON=.venv/bin/python bash benchmarks/gpu_suite.sh eg3d    (or: ... gpu_suite.sh --smoke eg3d)
# The smoke mode also runs without gpu_prepare.sh (tests/test_benchmarks.py runs it so in CI): without the official
# source its steps are SKIPPED (the steps of our own code all run), without .gpu/whl the packages the wheels would
# carry come from PYTHON's own, and without .gpu/pti_aligned.npz the crop is made on the fly (dlib: the face extras).
#
# Environment: PYTHON (default python3), OUT (log folder; default a new temporary folder), BUDGET_S (570),
# SMOKE (0/1), SITE (where the wheels are installed; default /tmp/site, a temporary folder in smoke mode),
# EG3D_SRC (the official code: default .gpu/eg3d; a checkout of NVlabs/eg3d, its eg3d/ folder, or a git mirror,
# exported to a temporary folder), GPU_DIR (the folder gpu_prepare.sh fills; default .gpu).
set -euo pipefail

SMOKE=${SMOKE:-0}
if [[ "${1:-}" == --smoke ]]; then SMOKE=1; shift; fi
STAGE=${1:-}
case "$STAGE" in
    eg3d | generate | pti | depth | all) ;;
    *) echo "usage: [SMOKE=1] bash benchmarks/gpu_suite.sh [--smoke] eg3d|generate|pti|depth|all" >&2; exit 2 ;;
esac

if [[ -n "${EG3D_SRC:-}" && "$EG3D_SRC" != /* ]]; then EG3D_SRC=$PWD/$EG3D_SRC; fi  # relative to the caller
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
GPU_DIR=${GPU_DIR:-.gpu}
OFFICIAL=${EG3D_SRC:-$GPU_DIR/eg3d}  # the official code's folder (or a checkout's root) given to --official-src
ALIGNED=$GPU_DIR/pti_aligned.npz
TOOLS=benchmarks/gpu_suite_tools.py
BUDGET_S=${BUDGET_S:-570}
deadline=$((SECONDS + BUDGET_S))
export PYTHONUNBUFFERED=1
if [[ -z "${OUT:-}" ]]; then OUT=$(mktemp -d "${TMPDIR:-/tmp}/gpu_suite.XXXXXX"); fi
mkdir -p "$OUT"
for log in env official-ops eg3d generate pti depth; do rm -f "$OUT/$log.log"; done  # this run's logs only
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_suite_py.XXXXXX")  # maybe a distutils shim, smoke-mode site
trap 'rm -rf "$WORK"' EXIT
if (( SMOKE )); then SITE=${SITE:-$WORK/site}; else SITE=${SITE:-/tmp/site}; fi  # /tmp/site: as the device README

STATUS=()  # one line per step, for the summary
note() { echo "$*"; STATUS+=("$*"); }

# --- The official EG3D code and the PTI crop: required on the GPU, optional in smoke mode -----------------------
NO_OFFICIAL="no official EG3D source (set EG3D_SRC)"
HAVE_OFFICIAL=1
if [[ -f "$OFFICIAL/training/triplane.py" || -f "$OFFICIAL/eg3d/training/triplane.py" ]]; then
    :
elif [[ -n "${EG3D_SRC:-}" ]]; then  # a git mirror: its HEAD's eg3d/ folder, for this run only
    "$PYTHON" "$TOOLS" export-official "$EG3D_SRC" "$WORK/eg3d" || exit 2
    OFFICIAL=$WORK/eg3d
elif (( SMOKE )); then
    HAVE_OFFICIAL=0
    echo "note: $NO_OFFICIAL: the official steps are skipped"
else
    echo "error: no official EG3D source at $OFFICIAL — run benchmarks/gpu_prepare.sh here" \
        "(EG3D_SRC=<a clone of https://github.com/NVlabs/eg3d>) and carry $GPU_DIR, or set EG3D_SRC" >&2
    exit 2
fi
if [[ ! -e "$ALIGNED" ]] && (( !SMOKE )); then
    echo "error: $ALIGNED is missing — run benchmarks/gpu_prepare.sh here, carry $GPU_DIR" >&2
    exit 2
fi

# --- Python set-up: the carried wheels, the repository on the path -------------------------------------------
# (--no-deps: each wheel's needs were checked against the GPU machine's packages by gpu_prepare.sh)
shopt -s nullglob
wheels=("$GPU_DIR"/whl/*.whl)
if (( ${#wheels[@]} )); then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
        "${wheels[@]}"
fi
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# The official dnnlib imports distutils, which Python 3.12 dropped (setuptools' shim usually stands in).
if ! "$PYTHON" -c "from distutils.util import strtobool" 2>/dev/null; then
    mkdir -p "$WORK/shim/distutils"
    : >"$WORK/shim/distutils/__init__.py"
    cat >"$WORK/shim/distutils/util.py" <<'EOF'
def strtobool(val):  # distutils.util.strtobool, the one function the official dnnlib imports
    val = val.lower()
    if val in ("y", "yes", "t", "true", "on", "1"):
        return 1
    if val in ("n", "no", "f", "false", "off", "0"):
        return 0
    raise ValueError(f"invalid truth value {val!r}")
EOF
    export PYTHONPATH="$WORK/shim:$PYTHONPATH"
    echo "note: no distutils in $PYTHON: a strtobool shim stands in for the official dnnlib"
fi

# Runs that need import hooks (smoke mode's hidden packages, OFFICIAL_OPS=reference) go through
# gpu_suite_tools.py launch; plain runs on the GPU use no launcher.
PY=("$PYTHON")
if (( SMOKE )); then
    # pip list here minus KINDS.md's package list of the GPU image (2026-11), as top-level module names, plus
    # plyfile (the official mesh writer needs it). Left visible: what this machine's newer versions of packages
    # the GPU image has pull in (httpx2 and truststore of huggingface_hub, pydantic of typer, tzdata, ...): there
    # those packages come with their own needs.
    hide="dlib _dlib_pybind11 face_recognition_models ipywidgets widgetsnbextension jupyterlab_widgets IPython
        ipykernel ipykernel_launcher ipython_pygments_lexers jupyter jupyter_client jupyter_core nbclient nbformat
        nbmake comm debugpy executing asttokens pure_eval stack_data jedi parso prompt_toolkit wcwidth pexpect
        ptyprocess matplotlib_inline traitlets tornado zmq nest_asyncio nest_asyncio2 fastjsonschema jsonschema
        jsonschema_specifications referencing rpds"
    CARRIED="trimesh mrcfile plyfile plotly _plotly_utils"  # the modules of gpu_prepare.sh's WHEELS
    if (( ${#wheels[@]} )); then
        hide+=" $CARRIED"  # only the carried wheels may provide them
    else
        note "NOTE     no $GPU_DIR/whl (gpu_prepare.sh not run): $CARRIED come from $PYTHON's own packages"
    fi
    export GPU_SUITE_HIDE="$hide"
    export GPU_SUITE_SITE="$SITE"
    PY=("$PYTHON" "$TOOLS" launch)
    # One torch thread per process: the smoke steps prove that the scripts run, they measure nothing, and on a busy
    # 2-core machine two threads per process stall the tiny models (depth-quick: 38 s instead of 16 s beside two
    # busy processes).
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
fi

# --- One benchmark command -------------------------------------------------------------------------------------
# step LOG NAME CAP MIN COMMAND...: run COMMAND under `timeout` (CAP seconds, or what is left of the budget),
# append its output to $OUT/LOG.log; skip it when less than MIN seconds are left.
step() {
    local log=$1 name=$2 cap=$3 min=$4 left limit began rc
    shift 4
    left=$((deadline - SECONDS - 10))
    limit=$((cap < left ? cap : left))
    if ((limit < min)); then
        note "SKIPPED  $name: ${left} s left of the ${BUDGET_S} s budget, needs ${min} s"
        return 0
    fi
    printf '\n===== %s (limit %d s): %s\n' "$name" "$limit" "$*" | tee -a "$OUT/$log.log"
    began=$SECONDS
    set +e
    timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$OUT/$log.log"
    rc=${PIPESTATUS[0]}
    set -e
    case $rc in
        0) note "ok       $name: $((SECONDS - began)) s" ;;
        124 | 137) note "TIMEOUT  $name: stopped after $((SECONDS - began)) s (limit $limit s)" ;;
        *) note "FAILED   $name: exit $rc after $((SECONDS - began)) s (see $log.log)" ;;
    esac
    return 0
}

# official_step LOG NAME CAP MIN COMMAND...: a step that runs the official code; without it (smoke mode only), a
# SKIPPED line.
official_step() {
    if ((HAVE_OFFICIAL)); then step "$@"; else note "SKIPPED  $2: $NO_OFFICIAL"; fi
}

# torch finds nvcc (for the official ops) on the PATH or under /usr/local/cuda.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then export PATH="/usr/local/cuda/bin:$PATH"; fi

# --- Machine facts, once ----------------------------------------------------------------------------------------
{
    echo "gpu_suite.sh $STAGE, smoke $SMOKE, $(date -u '+%F %T') UTC, budget $BUDGET_S s," \
        "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    if command -v nvidia-smi >/dev/null; then nvidia-smi; else echo "(no nvidia-smi)"; fi
    echo "cores $(nproc), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 2^20}' /proc/meminfo)," \
        "load $(cut -d' ' -f1-3 /proc/loadavg)"
    { command -v nvcc >/dev/null && nvcc --version | tail -2; } || echo "(no nvcc on PATH)"
    echo "ninja $(ninja --version 2>/dev/null || echo missing), $(g++ --version 2>/dev/null | head -1 || echo 'no g++')"
    "$PYTHON" "$TOOLS" env
} 2>&1 | tee "$OUT/env.log"
if ((!SMOKE)) && ! "$PYTHON" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    echo "error: torch sees no GPU (for a CPU check use SMOKE=1)" >&2
    exit 1
fi

# --- Official custom ops: built once per machine (nvcc + ninja, cached under ~/.cache/torch_extensions) ---------
OPS_READY=0
official_ops() {
    ((OPS_READY)) && return 0
    OPS_READY=1
    official_step official-ops official-ops 300 60 "$PYTHON" "$TOOLS" official-ops "$OFFICIAL"
    if ((HAVE_OFFICIAL)) && [[ "${STATUS[-1]}" != ok* ]]; then
        export OFFICIAL_OPS=reference
        PY=("$PYTHON" "$TOOLS" launch)
        note "WARNING  official custom ops unavailable: the official model runs its reference ops" \
            "(slower than its real GPU path)"
    fi
}

# --- Stages -------------------------------------------------------------------------------------------------
stage_eg3d() {
    official_ops
    local bf16=0
    grep -q -- '"--precision"' benchmarks/eg3d_speed.py && bf16=1
    if ((SMOKE)); then
        step eg3d eg3d-tiny-batch2 120 20 "${PY[@]}" benchmarks/eg3d_speed.py --device cpu --arch tiny \
            --neural-res 32 --batch 2 --repeats 1 --density-points 65536
        official_step eg3d eg3d-official 180 30 "${PY[@]}" benchmarks/eg3d_speed.py --device cpu \
            --official-src "$OFFICIAL" --neural-res 32 --repeats 1 --density-points 65536 --official-chunk 32768
        if ((bf16)); then
            step eg3d eg3d-tiny-bf16 120 20 "${PY[@]}" benchmarks/eg3d_speed.py --device cpu --arch tiny \
                --neural-res 32 --precision bf16 --repeats 1 --density-points 65536
        fi
    else
        # density at 2^24 points: about a 256³ lattice (16.8 M), one official G.sample per 1 M chunk
        step eg3d eg3d-batch1 150 45 "${PY[@]}" benchmarks/eg3d_speed.py --device cuda --official-src "$OFFICIAL" \
            --repeats 20 --density-points 16777216
        step eg3d eg3d-batch8 150 45 "${PY[@]}" benchmarks/eg3d_speed.py --device cuda --official-src "$OFFICIAL" \
            --batch 8 --repeats 10 --density-points 16777216
        if ((bf16)); then
            step eg3d eg3d-batch8-bf16 150 45 "${PY[@]}" benchmarks/eg3d_speed.py --device cuda \
                --official-src "$OFFICIAL" --batch 8 --repeats 10 --density-points 16777216 --precision bf16
        fi
    fi
}

stage_generate() {
    official_ops
    if ((SMOKE)); then
        official_step generate generate-official 240 30 "${PY[@]}" benchmarks/generate_speed.py --device cpu \
            --official-src "$OFFICIAL" --samples 1 --repeats 1 --mesh-resolution 32 --breakdown-repeats 1
        # with a small mesh and the breakdown (ours' mesh code runs also when the official step is skipped)
        step generate generate-tiny-batch2 120 20 "${PY[@]}" benchmarks/generate_speed.py --device cpu --arch tiny \
            --samples 2 --batch-size 2 --repeats 1 --mesh-resolution 32 --breakdown-repeats 1
        step generate generate-tiny-bf16 120 20 "${PY[@]}" benchmarks/generate_speed.py --device cpu --arch tiny \
            --samples 2 --batch-size 2 --repeats 1 --skip-mesh --no-breakdown --precision bf16
    else
        # 50,000 samples an hour is 13.9 samples/s; a 256³ mesh within 0.5 s (DESIGN.md §6)
        step generate generate-batch1 240 90 "${PY[@]}" benchmarks/generate_speed.py --device cuda \
            --official-src "$OFFICIAL" --samples 32 --batch-size 1 --repeats 3
        step generate generate-batch16 180 60 "${PY[@]}" benchmarks/generate_speed.py --device cuda \
            --official-src "$OFFICIAL" --samples 64 --batch-size 16 --repeats 3 --skip-mesh --no-breakdown
        step generate generate-batch16-bf16 180 60 "${PY[@]}" benchmarks/generate_speed.py --device cuda \
            --official-src "$OFFICIAL" --samples 64 --batch-size 16 --repeats 3 --skip-mesh --no-breakdown \
            --precision bf16
    fi
}

stage_depth() {
    local cap=$1
    if ((SMOKE)); then
        step depth depth-quick 180 30 "${PY[@]}" benchmarks/depth_speed.py --device cpu --quick --repeats 1
    else
        step depth depth "$cap" 120 "${PY[@]}" benchmarks/depth_speed.py --device cuda
    fi
}

stage_pti() {
    # --aligned: the crop and camera gpu_prepare.sh made with dlib (its model does not travel)
    if ((SMOKE)); then
        local args=(--generator tiny-random --device cpu --steps 1 --warmup 0 --repeats 1 --mesh-resolution 32)
        if [[ ! -e "$ALIGNED" ]]; then  # no gpu_prepare.sh: made here, with dlib (not hidden: no launcher)
            ALIGNED=$WORK/pti_aligned.npz
            step pti pti-align 120 20 "$PYTHON" benchmarks/pti_speed.py --save-aligned "$ALIGNED" --repeats 1
        fi
        step pti pti-tiny 180 20 "${PY[@]}" benchmarks/pti_speed.py "${args[@]}" --aligned "$ALIGNED"
        stage_depth 0
        step pti pti-tiny-bf16 180 20 "${PY[@]}" benchmarks/pti_speed.py "${args[@]}" --aligned "$ALIGNED" \
            --precision bf16
    else
        local args=(--generator ffhq512-128-random --device cuda --steps 20 --warmup 5)
        step pti pti-fp32 240 60 "${PY[@]}" benchmarks/pti_speed.py "${args[@]}" --aligned "$ALIGNED"
        stage_depth 330
        step pti pti-bf16 180 60 "${PY[@]}" benchmarks/pti_speed.py "${args[@]}" --aligned "$ALIGNED" \
            --precision bf16
    fi
}

case "$STAGE" in
    eg3d) stage_eg3d ;;
    generate) stage_generate ;;
    pti) stage_pti ;;
    depth) stage_depth 540 ;;
    all) stage_eg3d; stage_generate; stage_pti ;;
esac

# --- Summary: statuses and the result lines of each log --------------------------------------------------------
# (what to read in the call's output tail: step headers, result lines, Markdown table rows, errors)
RESULT_LINES='^(=====|ours:|official( mesh)?:|speed-up:|max \|image|sanity|  (samples|meshes):|breakdown|'
RESULT_LINES+='invert_aligned|projection:|tuning:|final renders|EXTRAPOLATED|\| )|built and loaded|custom vs reference|'
RESULT_LINES+='Error|error:'
{
    echo
    echo "===== summary: gpu_suite.sh $STAGE (smoke $SMOKE), $SECONDS s of the $BUDGET_S s budget, logs in $OUT"
    printf '%s\n' "${STATUS[@]}"
    for log in official-ops eg3d generate pti depth; do
        [[ -f "$OUT/$log.log" ]] || continue
        echo "--- $log.log"
        grep -E "$RESULT_LINES" "$OUT/$log.log" | grep -v '^| *---' | cut -c1-400 || true
    done
} | tee "$OUT/summary.txt"
[[ "${STATUS[*]}" != *FAILED* && "${STATUS[*]}" != *TIMEOUT* ]]

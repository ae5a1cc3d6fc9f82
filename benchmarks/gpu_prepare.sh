#!/usr/bin/env bash
# Prepare a GPU lease for the benchmarks: run HERE (the development machine), once, before using the
# device tool. It fills the git-ignored folder .gpu/, which the device calls carry along:
#
#   .gpu/eg3d/              the official NVlabs/eg3d code for --official-src (exported from EG3D_SRC;
#                           never committed: .gpu/ is in .git/info/exclude)
#   .gpu/eg3d.commit        the commit it was exported from
#   .gpu/whl/*.whl          wheels of the Python packages the benchmarks import that the GPU machine lacks
#                           (pure-Python: trimesh, mrcfile, plyfile, plotly), installed there by gpu_suite.sh
#   .gpu/pti_aligned.npz    the astronaut's aligned crop + fitted camera for pti_speed.py --aligned
#                           (alignment needs dlib's ~100 MB landmark model, which cannot travel)
#
# The official code is never part of this project: get it yourself (git clone https://github.com/NVlabs/eg3d)
# and name it in EG3D_SRC or as the first argument: a checkout (its root or its eg3d/ folder; the files as they
# are) or a git mirror of it (a bare repository or a .git folder; its HEAD is exported).
#
# Usage (from anywhere; about 10 s):
#   EG3D_SRC=/path/to/eg3d bash benchmarks/gpu_prepare.sh
#   bash benchmarks/gpu_prepare.sh /path/to/eg3d                             # the same
#   PYTHON=.venv/bin/python EG3D_SRC=... bash benchmarks/gpu_prepare.sh      # the interpreter with dlib (default:
#                                                                           # .venv/bin/python, else python3)
# Then check it end to end on the CPU:  SMOKE=1 PYTHON=.venv/bin/python bash benchmarks/gpu_suite.sh all
# and run a stage on the GPU machine:   bash benchmarks/gpu_suite.sh eg3d   (carry: [".gpu"]; see gpu_suite.sh)
set -euo pipefail

EG3D_SRC=${1:-${EG3D_SRC:-}}
if [[ -n "$EG3D_SRC" && "$EG3D_SRC" != /* ]]; then EG3D_SRC=$PWD/$EG3D_SRC; fi  # relative to the caller
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if [[ -z "$EG3D_SRC" ]]; then
    echo "error: no official EG3D source — git clone https://github.com/NVlabs/eg3d, then" \
        "EG3D_SRC=/path/to/eg3d bash benchmarks/gpu_prepare.sh (or pass the path as the first argument)" >&2
    exit 1
fi
GPU_DIR=.gpu
# Exact versions: the ones the CPU benchmarks ran with (plyfile: the official mesh writer in RESULTS.md; plotly:
# helpers.depth imports helpers.viewer). Each needs only packages the GPU image has (its package list of 2026-11:
# numpy, narwhals, packaging), checked below from the wheels' metadata. gpu_suite.sh's CARRIED names their modules.
WHEELS=(trimesh==5.2.0 mrcfile==1.5.4 plyfile==1.1.5 plotly==7.1.0)
ON_GPU_IMAGE=" numpy narwhals packaging "

# 1. Keep the folder out of git (and so out of any commit): .git/info/exclude, not the tracked .gitignore.
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qxF "/$GPU_DIR/" "$exclude" 2>/dev/null || echo "/$GPU_DIR/" >>"$exclude"
mkdir -p "$GPU_DIR"
if ! git check-ignore -q "$GPU_DIR/eg3d"; then
    echo "error: $GPU_DIR/ is not ignored by git; refusing to put the official code there" >&2
    exit 1
fi

# 2. The official EG3D source: only its eg3d/ folder is imported, so only that folder is exported.
"$PYTHON" benchmarks/gpu_suite_tools.py export-official "$EG3D_SRC" "$GPU_DIR/eg3d"

# 3. Wheels for the GPU machine's Python 3.12 (x86-64); --no-deps, so each dependency is named and checked.
rm -rf "$GPU_DIR/whl"
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$GPU_DIR/whl" "${WHEELS[@]}"
for wheel in "$GPU_DIR"/whl/*.whl; do
    # Requirements that are not extras must be on the GPU machine already (ON_GPU_IMAGE).
    needs=$(unzip -p "$wheel" '*.dist-info/METADATA' | grep '^Requires-Dist' | grep -v 'extra ==' \
        | sed 's/^Requires-Dist: *//; s/[ ;<>=!~(\[].*//' | sort -u | tr '\n' ' ')
    echo "wheel $(basename "$wheel"): needs ${needs:-nothing}"
    for need in $needs; do
        [[ "$ON_GPU_IMAGE" == *" $need "* ]] \
            || { echo "error: $(basename "$wheel") needs $need — add its wheel" >&2; exit 1; }
    done
done

# 4. The PTI benchmark's aligned crop and camera (dlib is here, not there).
"$PYTHON" benchmarks/pti_speed.py --save-aligned "$GPU_DIR/pti_aligned.npz" --repeats 1

# 5. Sizes: a device call carries the working tree (tracked + untracked-not-ignored files) plus .gpu,
#    64 MiB at most in all.
carried=$(du -sb "$GPU_DIR" | cut -f1)
tree=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 -r stat -c %s -- 2>/dev/null \
    | awk '{s += $1} END {print s + 0}')
du -sh "$GPU_DIR"/* | sed 's/^/  /'
echo "carried $GPU_DIR: $((carried / 1024)) KiB; working tree: $((tree / 1024)) KiB;" \
    "total $(((carried + tree) / 1048576)) MiB of the 64 MiB a call may send"
if (( carried + tree > 48 * 1048576 )); then
    echo "error: over 48 MiB: leave something out of $GPU_DIR" >&2
    exit 1
fi
echo "ready: SMOKE=1 PYTHON=$PYTHON bash benchmarks/gpu_suite.sh all   (CPU check), then the device calls"

#!/usr/bin/env bash
# GPU readiness check for robot_rl: on a machine with one NVIDIA GPU, in under 8 minutes, it
#   1. makes sure the interpreter has a CUDA build of torch (installs one when it has not),
#   2. installs robot_rl (editable, no extras pulled beyond the core, hf and deploy dependencies),
#   3. runs the GPU-marked tests and the deploy tests with ROBOT_RL_REQUIRE_GPU=1 (no silent CPU fallback),
#   4. times one LOOP update of a VLA-sized hf policy on CUDA (bf16, activation checkpointing),
#   5. times batch-1 policy latency on CUDA: torch, and onnxruntime's CUDA provider when onnxruntime-gpu
#      is installed (the provider line says which one ran),
# and prints every figure; the whole log also goes to OUT_DIR/gpu_check.log.
#
#   bash scripts/gpu_check.sh [OUT_DIR]          (default OUT_DIR: runs/gpu_check)
#
# Environment:
#   PY=python3          the interpreter to check (default: python3)
#   WHEELS=DIR          machines without internet: install missing packages from this directory only
#   ORT_GPU_WHEEL=FILE  an onnxruntime-gpu wheel to install in place of onnxruntime for step 5
#   TORCH_INDEX_URL     where pip finds a CUDA torch when PY's torch has none (default: PyTorch's CUDA 12.8 index)
#   GPU_CHECK_DRY_RUN=1 rehearse the script on a CPU machine: no GPU required, a tiny model in step 4
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/gpu_check}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
PY=${PY:-python3}
DRY=${GPU_CHECK_DRY_RUN:-0}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 ROBOT_RL_REQUIRE_GPU=$((1 - DRY))
size=base
[ "$DRY" = 1 ] && size=tiny
pip_from=()
[ -n "${WHEELS:-}" ] && pip_from=(--no-index --find-links "$WHEELS")
results=()
step() {  # step NAME TIMEOUT_S COMMAND...: run, time and record one step
  local name=$1 limit=$2; shift 2
  echo; echo "== $name"
  local t0=$SECONDS
  timeout "$limit" "$@"
  local rc=$?
  results+=("$(printf '%-44s %s (%d s)' "$name" "$([ $rc -eq 0 ] && echo ok || echo "FAILED rc=$rc")" $((SECONDS - t0)))")
  return $rc
}

if [ "$DRY" != 1 ]; then
  step "GPU visible (nvidia-smi)" 30 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    || { echo "gpu_check: no NVIDIA GPU visible; nothing to check"; exit 1; }
fi

cuda_torch() { "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; }
if [ "$DRY" != 1 ] && ! cuda_torch; then
  if [ -n "${WHEELS:-}" ]; then
    step "install CUDA torch (from WHEELS)" 300 "$PY" -m pip install -q "${pip_from[@]}" torch
  else
    step "install CUDA torch" 300 "$PY" -m pip install -q torch \
      --index-url "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cu128}"
  fi
fi
step "CUDA torch" 60 "$PY" -c 'import os, torch
if os.environ["ROBOT_RL_REQUIRE_GPU"] == "0": print("dry run: torch", torch.__version__, "on the CPU"); raise SystemExit
assert torch.cuda.is_available(), "torch sees no CUDA device"
print("torch", torch.__version__, "CUDA", torch.version.cuda, "on", torch.cuda.get_device_name(0),
      f"({torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB)")' || { printf '%s\n' "${results[@]}"; exit 1; }

# Only missing packages are installed (pip leaves satisfied ones alone, e.g. a machine's own transformers).
step "install robot_rl dependencies" 300 "$PY" -m pip install -q "${pip_from[@]}" "pydantic>=2.6,<3" "zarr>=3.1,<4" \
  pyyaml "scipy>=1.11" "safetensors>=0.4" tqdm matplotlib tensorboard "transformers>=4.45" "tokenizers>=0.20" "onnx>=1.16" \
  pytest pytest-timeout
if [ -n "${ORT_GPU_WHEEL:-}" ]; then
  "$PY" -m pip uninstall -q -y onnxruntime >/dev/null 2>&1
  step "install onnxruntime-gpu" 300 "$PY" -m pip install -q --no-deps "$ORT_GPU_WHEEL"
else
  "$PY" -c 'import onnxruntime' 2>/dev/null || step "install onnxruntime" 300 "$PY" -m pip install -q "${pip_from[@]}" onnxruntime
fi
step "install robot_rl (editable)" 120 "$PY" -m pip install -q --no-deps --no-build-isolation -e .

mapfile -t gpu_tests < <(grep -rl --include='test_*.py' -E 'pytest\.mark\.gpu' tests | sort)
step "GPU-marked tests + deploy tests" 240 "$PY" -m pytest -q -p no:cacheprovider "${gpu_tests[@]}" tests/deploy
step "one LOOP update, hf VLA on CUDA" 240 "$PY" bench/gpu_update.py --size "$size"
step "policy latency on CUDA (torch, onnxruntime)" 180 "$PY" bench/policy.py --device auto --iters 100

echo; echo "== summary"
printf '%s\n' "${results[@]}"
! printf '%s\n' "${results[@]}" | grep -q FAILED

#!/usr/bin/env bash
# The GPU figures for BENCHMARKS.md, on a machine with an NVIDIA GPU: the four bench cases with
# finetune on WebGPU and on CUDA, each against PyTorch on CUDA in the same run.
# usage: bash bench/device.sh [STEPS]   (one JSON line per case and provider on stdout)
# A provider that cannot start (no Vulkan driver for WebGPU; no CUDA provider libraries, see the
# README) reports its error in that line and the script goes on.
set -uo pipefail
cd "$(dirname "$0")/.."
steps="${1:-20}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | head -3
/usr/bin/python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1 | tail -1
for dev in webgpu cuda; do
  for c in transformer-block conv-block bert-finetune resnet18-finetune; do
    echo "[device] $c on $dev" >&2
    timeout 300 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE npx tsx bench/run.ts "$c" --device "$dev" --steps "$steps" --warmup 5 2>&1 | tail -1
  done
done

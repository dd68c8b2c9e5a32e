#!/usr/bin/env bash
# Side-by-side training-step benchmark of sbpflow and PyTorch (CPU, one
# thread each), from the same initial weights on the same batches.
#
#   bench/compare_pytorch.sh [mlp|gpt|all]     (default: all)
#
# Models (bench/README.md):
#   mlp: 784-1024-1024-10, batch 256, SGD lr 0.05, Fashion-MNIST (file order)
#   gpt: hidden 256, 4 layers, 4 heads, seq 128, batch 8, AdamW lr 3e-4 wd
#        0.01, bytes of /usr/share/common-licenses/GPL-3 (or synthetic tokens
#        when that file is missing)
#
# For each model: `sbpflow train --steps 0 --save` writes the initial weights;
# sbpflow_step_bench loads them, dumps its batches and times its steps;
# bench/pytorch_step_bench.py trains the PyTorch twin from the same weights on
# the dumped batches. Runs alternate sbpflow, PyTorch, sbpflow, PyTorch, ...
# (ROUNDS rounds) so that drift of the machine hits both sides alike; the
# first WARMUP steps of every run are not timed. The report gives the median
# step time of each side, the ratio sbpflow / PyTorch and the loss agreement.
#
# Environment: BUILD_DIR (default build), ROUNDS (5), MLP_STEPS (25),
# GPT_STEPS (12), WARMUP (3), PYTHON (/usr/bin/python3), KEEP=1 keeps the
# scratch folder. Exit status: 0 when every target is met, 3 when a ratio
# misses its target, 1 on errors or disagreeing losses. Other variables reach
# both sides alike (e.g. OPENBLAS_CORETYPE=SkylakeX, SBPFLOW_NO_AVX512=1).
set -euo pipefail

cd "$(dirname "$0")/.."
which_models="${1:-all}"
BUILD_DIR="${BUILD_DIR:-build}"
ROUNDS="${ROUNDS:-5}"
MLP_STEPS="${MLP_STEPS:-25}"
GPT_STEPS="${GPT_STEPS:-12}"
WARMUP="${WARMUP:-3}"
PYTHON="${PYTHON:-/usr/bin/python3}"

# One thread everywhere: OpenBLAS (both sides), OpenMP (PyTorch), oneTBB
# (sbpflow --threads 1).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  echo "compare_pytorch: installing python3-torch" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get install -y python3-torch >&2
  else
    sudo apt-get install -y python3-torch >&2
  fi
fi

if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
fi
ninja -C "$BUILD_DIR" -j "${JOBS:-2}" sbpflow sbpflow_step_bench >&2
sbpflow="$BUILD_DIR/tools/sbpflow"
step_bench="$BUILD_DIR/bench/sbpflow_step_bench"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/compare_pytorch.XXXXXX")"
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$scratch"' EXIT; else echo "scratch: $scratch" >&2; fi

status=0

# compare NAME TARGET STEPS GRAPH_ARGS... -- TRAIN_ARGS... -- TORCH_ARGS...
compare() {
  local name="$1" target="$2" steps="$3"
  shift 3
  local gen=() train=() torch_args=()
  while [ "$1" != "--" ]; do gen+=("$1"); shift; done
  shift
  while [ "$1" != "--" ]; do train+=("$1"); shift; done
  shift
  torch_args=("$@")
  local dir="$scratch/$name"
  mkdir -p "$dir/runs"
  "$sbpflow" gen "${gen[@]}" -o "$dir/graph.pb" >&2
  "$sbpflow" train "$dir/graph.pb" "${train[@]}" --seed 1 --threads 1 --steps 0 \
    --save "$dir/init.safetensors" >/dev/null 2>&1
  for round in $(seq 1 "$ROUNDS"); do
    local dump=()
    if [ "$round" -eq 1 ]; then dump=(--dump-batches "$dir/batches.safetensors"); fi
    "$step_bench" "$dir/graph.pb" "${train[@]}" --threads 1 --steps "$steps" \
      --init-from "$dir/init.safetensors" "${dump[@]}" >"$dir/runs/sbpflow.$round.json"
    "$PYTHON" bench/pytorch_step_bench.py "${torch_args[@]}" --steps "$steps" \
      --init "$dir/init.safetensors" --batches "$dir/batches.safetensors" \
      >"$dir/runs/pytorch.$round.json"
    echo "compare_pytorch: $name round $round/$ROUNDS done" >&2
  done
  local result=0
  "$PYTHON" bench/compare_report.py "$name" "$WARMUP" "$target" "$dir/runs" || result=$?
  if [ "$result" -eq 1 ]; then status=1; elif [ "$result" -ne 0 ] && [ "$status" -eq 0 ]; then
    status=$result
  fi
}

if [ "$which_models" = mlp ] || [ "$which_models" = all ]; then
  compare "MLP 784-1024-1024-10, batch 256, SGD" 0.9 "$MLP_STEPS" \
    mlp --layers 784,1024,1024,10 -- \
    --data fashion-mnist --batch 256 --optimizer sgd --lr 0.05 -- \
    --model mlp --optimizer sgd --lr 0.05
fi

if [ "$which_models" = gpt ] || [ "$which_models" = all ]; then
  text=/usr/share/common-licenses/GPL-3
  data="text:$text"
  if [ ! -f "$text" ]; then data=synthetic; fi
  compare "GPT h256 l4 heads4 seq128, batch 8, AdamW" 0.8 "$GPT_STEPS" \
    gpt --layers 4 --hidden 256 --heads 4 --seq 128 -- \
    --data "$data" --batch 8 --optimizer adamw --lr 3e-4 --weight-decay 0.01 -- \
    --model gpt --layers 4 --heads 4 --optimizer adamw --lr 3e-4 --weight-decay 0.01
fi

exit "$status"

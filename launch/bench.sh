#!/usr/bin/env bash
# Usage: bash launch/bench.sh [STEPS]        (RUNS=N: median of N runs each, default 3)
#
# Measures rnn-dist on the benchmark models A (rnn H 64), B (rnn H 512) and C (lstm H 256) —
# batch 64 × 50, Adagrad, clip 5, Tiny Shakespeare — next to the peers in ../shared/bench
# (PyTorch and numpy), in one sitting, and prints tokens/s and the ratios. Absolute speeds on a
# shared machine drift by tens of percent from hour to hour: only ratios from one run count.
# Needs data/tinyshakespeare.txt (launch/fetch-data.sh) and, for the peers, a Python with
# torch, numpy and threadpoolctl ($PY, default ~/.venv-bench/bin/python):
#   python3 -m venv ~/.venv-bench && ~/.venv-bench/bin/pip install torch numpy threadpoolctl
set -euo pipefail

steps=${1:-40}
here=$(cd "$(dirname "$0")/.." && pwd)
peers=${PEERS:-$here/../shared/bench}
data=${DATA:-$here/data/tinyshakespeare.txt}
py=${PY:-$HOME/.venv-bench/bin/python}
binary=$here/.build/release/rnn-dist
[ -f "$data" ] || { echo "bench: $data missing (bash launch/fetch-data.sh)" >&2; exit 2; }
(cd "$here" && swift build -c release >&2)

ours() {  # ours MODEL EXTRA... -> tokens/s
    "$binary" bench --data "$data" --models "$1" --steps "$steps" "${@:2}" \
        | python3 -c 'import json,sys; print(int(json.loads(sys.stdin.readline())["tokens_per_s"]))'
}
peer() {  # peer SCRIPT ARGS... -> tokens/s, or "-" without the peers
    if [ -x "$py" ] && [ -f "$peers/$1" ]; then
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" "$peers/$1" --data "$data" --steps $((steps + 5)) --quiet "${@:2}" 2>/dev/null \
            | tail -1 | python3 -c 'import json,sys; print(int(json.loads(sys.stdin.read())["tokens_per_s"]))'
    else
        echo "-"
    fi
}
median() { python3 -c "import sys; v=sorted(int(x) for x in sys.argv[1:] if x != '-'); print(v[len(v)//2] if v else '-')" "$@"; }
ratio() { if [ "$2" = "-" ]; then echo "-"; else python3 -c "print(f'{$1 / $2:.2f}x')"; fi; }

# Each figure is the median of $runs runs, the four contenders taking turns, so that a noisy
# minute on a shared machine hits them alike.
runs=${RUNS:-3}
printf '%-22s %12s %12s %12s %12s %8s\n' "model" "rnn-dist 2T" "np 2 x 1T" "numpy best" "torch 2T" "ratio"
for model in A B C; do
    a=(); b=(); numpy=(); torch=()
    for _ in $(seq "$runs"); do
        a+=("$(ours $model)")
        b+=("$(ours $model --ranks 2 --threads 1)")
        case $model in
            A) hidden=64;  numpy+=("$(peer numpy_batched_rnn.py --hidden 64 --threads 1 --embed --batched-wgrad)")
               torch+=("$(peer torch_charrnn.py --cell rnn --hidden 64 --threads 2 --input onehot)") ;;
            B) hidden=512; numpy+=("$(peer numpy_batched_rnn.py --hidden 512 --threads 2)")
               torch+=("$(peer torch_charrnn.py --cell rnn --hidden 512 --threads 2 --input onehot)") ;;
            C) hidden=256; numpy+=("-")
               torch+=("$(peer torch_charrnn.py --cell lstm --hidden 256 --threads 2)") ;;
        esac
    done
    a=$(median "${a[@]}"); b=$(median "${b[@]}"); numpy=$(median "${numpy[@]}"); torch=$(median "${torch[@]}")
    best=$(python3 -c "v=[x for x in ['$numpy','$torch'] if x != '-']; print(max(map(int, v)) if v else '-')")
    fastest=$(( a > b ? a : b ))
    printf '%-22s %12s %12s %12s %12s %8s\n' "$model (H $hidden)" "$a" "$b" "$numpy" "$torch" "$(ratio $fastest "$best")"
done

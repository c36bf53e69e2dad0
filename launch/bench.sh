#!/usr/bin/env bash
# Usage: bash launch/bench.sh [STEPS]            models A, B, C against the peers (STEPS timed steps
#                                                of B and C, default 40; A runs 10 × STEPS)
#        bash launch/bench.sh --kernels          model B's products against OpenBLAS, and the
#                                                tile ceiling (our micro-kernel, operands in L1)
# Environment: RUNS=N (median of N runs, default 3, model A 2·N; --kernels: best of N rounds);
#              CLASS=native|avx2 (default native); SCRATCH=DIR (the build folder; default
#              .build, .build-avx2 for CLASS=avx2); DATA=FILE, PEERS=DIR, PY=PYTHON.
#
# Measures rnn-dist on the benchmark models A (rnn H 64), B (rnn H 512) and C (lstm H 256) —
# batch 64 × 50, Adagrad, clip 5, Tiny Shakespeare — next to the peers in ../shared/bench, in
# one sitting, and prints a Markdown table headed by the CPU, the kernel path and the date.
# The peers: numpy + OpenBLAS with 1 and 2 threads (A and B), PyTorch with 2 threads and
# one-hot input as well as nn.Embedding input (A, B, C); the best of them is the peer.
# The headline ratio compares the same process model: rnn-dist with 2 threads in one process
# against the peers' 2 threads (or numpy's 1); `-np 2` × 1 thread is a column of its own.
#
# CLASS=avx2 measures the AVX2 class on any x86 host with AVX2: rnn-dist built for Haswell
# (RNN_DIST_TARGET_CPU=haswell: AVX2 + FMA code, 16 registers, the 6×16 tile), numpy with
# OPENBLAS_CORETYPE=Haswell (OpenBLAS's AVX2 kernel) and PyTorch with ATEN_CPU_CAPABILITY=avx2
# for its own kernels plus MKL_ENABLE_INSTRUCTIONS=AVX2 and ONEDNN_MAX_CPU_ISA=AVX2 for the
# libraries that do its matrix products (without them MKL's sgemm still dispatches on cpuid to
# AVX-512: 127 GFLOP/s at 64×512×512 on one core, 71 with them). CLASS=native lets every
# contender use everything the CPU has (OPENBLAS_* unset).
#
# Absolute speeds on a shared machine drift by tens of percent from hour to hour: only ratios
# from one sitting count, and a busy machine (see `uptime`) makes every figure wrong.
# Needs data/tinyshakespeare.txt (launch/fetch-data.sh) and, for the peers, a Python with
# torch, numpy and threadpoolctl ($PY, default ~/.venv-bench/bin/python):
#   python3 -m venv ~/.venv-bench && ~/.venv-bench/bin/pip install torch numpy threadpoolctl
set -euo pipefail

mode=models
if [ "${1:-}" = "--kernels" ]; then mode=kernels; shift; fi
steps=${1:-40}
case $steps in ''|*[!0-9]*|0) echo "bench: STEPS must be a positive integer (got '$steps')" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")/.." && pwd)
peers=${PEERS:-$here/../shared/bench}
data=${DATA:-$here/data/tinyshakespeare.txt}
py=${PY:-$HOME/.venv-bench/bin/python}
class=${CLASS:-native}
case $class in
    native) scratch=${SCRATCH:-.build}; target=${RNN_DIST_TARGET_CPU:-native}
            peer_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u ATEN_CPU_CAPABILITY) ;;
    avx2)   scratch=${SCRATCH:-.build-avx2}; target=haswell
            peer_env=(env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2
                      MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2) ;;
    *) echo "bench: CLASS must be native or avx2 (got '$class')" >&2; exit 2 ;;
esac
[ -f "$data" ] || [ $mode = kernels ] || { echo "bench: $data missing (bash launch/fetch-data.sh)" >&2; exit 2; }
(cd "$here" && RNN_DIST_TARGET_CPU=$target swift build -c release --scratch-path "$scratch" >&2)
binary=$here/$scratch/release/rnn-dist
have_peers() { [ -x "$py" ] && [ -d "$peers" ]; }

# The sitting: the CPU, what each contender runs, the date.
errors=$(mktemp); trap 'rm -f "$errors"' EXIT
if [ $mode = kernels ]; then
    ours=$("$binary" bench --kernels 2>"$errors")   # timed first, on a machine not yet warmed by the peers
else
    "$binary" bench --models A --steps 1 --warmup 0 --data "$data" >/dev/null 2>"$errors"
fi
kernels_line=$(grep '^kernels:' "$errors" || true)
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores; $(grep -m1 -o 'avx512f' /proc/cpuinfo || echo 'no avx512f'), $(grep -m1 -wo 'avx2' /proc/cpuinfo || echo 'no avx2'))"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); load before: $(cut -d' ' -f1-3 /proc/loadavg); class: $class"
echo "rnn-dist: RNN_DIST_TARGET_CPU=$target; $kernels_line"
if have_peers; then
    "${peer_env[@]}" "$py" - <<'PY' 2>/dev/null || echo "peers: (python could not report versions)"
import numpy, torch
from threadpoolctl import threadpool_info
blas = ", ".join(f"{i['internal_api']} {i.get('version')} {i.get('architecture')}" for i in threadpool_info() if i.get("user_api") == "blas")
print(f"peers: numpy {numpy.__version__} ({blas}); PyTorch {torch.__version__.split('+')[0]} (ATen {torch.backends.cpu.get_cpu_capability()})")
PY
fi
echo

runs=${RUNS:-3}
case $runs in ''|*[!0-9]*|0) echo "bench: RUNS must be a positive integer (got '$runs')" >&2; exit 2 ;; esac
# The median of the figures (a '-' is a run that gave none), with DIGITS decimals; `median`: whole.
median_to() { python3 -c "import sys, statistics; d=int(sys.argv[1]); v=[float(x) for x in sys.argv[2:] if x != '-']; print(f'{statistics.median(v):.{d}f}' if v else '-')" "$@"; }
median() { median_to 0 "$@"; }
ratio() { if [ "$1" = "-" ] || [ "$2" = "-" ]; then echo "-"; else python3 -c "print(f'{$1 / $2:.2f}×')"; fi; }
thousands() { if [ "$1" = "-" ]; then echo "-"; else python3 -c "print(f'{$1 / 1000:.1f} k')"; fi; }

if [ $mode = kernels ]; then
    # GFLOP/s of model B's products, ours (best of eight windows) and OpenBLAS's (numpy, best
    # of 8 windows) at the same shapes and transposes, 1 and 2 threads. $runs rounds, each ours
    # (every product) then OpenBLAS's (every product), and each figure the best of its rounds:
    # timed once each, the side timed in a slow minute lost by up to a third.
    shapes='recurrence h·Whᵀ (per step)|64|512|512|0|1
recurrence dz·Wh (per step)|64|512|512|0|0
dWh = dZᵀ·H|512|512|3200|1|0
logits = H·Uᵀ|3200|65|512|0|1
dU = dθᵀ·H|65|512|3200|1|0
dH = dθ·U|3200|512|65|0|0'
    best() { python3 -c "import sys; v=[float(x) for x in sys.argv[1:] if x not in ('-', '')]; print(f'{max(v):.1f}' if v else '-')" "$@"; }
    openblas() {  # openblas M N K TA TB THREADS -> GFLOP/s
        have_peers || { echo -; return; }
        "${peer_env[@]}" "$py" - "$@" <<'PY' 2>/dev/null || echo -
import sys, time, numpy as np
from threadpoolctl import threadpool_limits
m, n, k, ta, tb, threads = (int(x) for x in sys.argv[1:])
rng = np.random.default_rng(0)
a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
A, B = (a.T if ta else a), (b.T if tb else b)
c = np.empty((m, n), np.float32)
with threadpool_limits(limits=threads, user_api="blas"):
    for _ in range(3): np.matmul(A, B, out=c)
    best = 0.0
    for _ in range(8):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < 0.05: np.matmul(A, B, out=c); calls += 1
        best = max(best, 2.0 * m * n * k * calls / (time.perf_counter() - start) / 1e9)
print(f"{best:.1f}")
PY
    }
    declare -A theirs
    for round in $(seq "$runs"); do
        [ "$round" = 1 ] || ours+=$'\n'"$("$binary" bench --kernels 2>/dev/null)"
        while IFS='|' read -r name m n k ta tb; do
            for threads in 1 2; do
                theirs[$name/$threads]+=" $(openblas "$m" "$n" "$k" "$ta" "$tb" "$threads")"
            done
        done <<<"$shapes"
    done
    printf '| product (m × n × k) | rnn-dist 1T | OpenBLAS 1T | rnn-dist 2T | OpenBLAS 2T |\n|---|---:|---:|---:|---:|\n'
    while IFS='|' read -r name m n k ta tb; do
        row=()
        for threads in 1 2; do
            # shellcheck disable=SC2046
            row+=("$(best $(echo "$ours" | grep "^$threads thread" | grep -F "$name" | awk '{print $(NF-1)}'))")
            # shellcheck disable=SC2086
            row+=("$(best ${theirs[$name/$threads]})")
        done
        printf '| %s (%s × %s × %s) | %s | %s | %s | %s |\n' "$name" "$m" "$n" "$k" "${row[0]}" "${row[1]}" "${row[2]}" "${row[3]}"
    done <<<"$shapes"
    # The micro-kernel alone, its operands in L1 (no peer figure): the most a product can reach.
    tile=$(echo "$ours" | grep -m1 'tile ceiling' | sed 's/.*L1) *//; s/ *[0-9.]* GFLOP.*//; s/  */ /g')
    # shellcheck disable=SC2046
    printf '| tile ceiling, operands in L1 (%s) | %s | – | %s | – |\n' "$tile" \
        "$(best $(echo "$ours" | grep '^1 thread.*tile ceiling' | awk '{print $(NF-1)}'))" \
        "$(best $(echo "$ours" | grep '^2 thread.*tile ceiling' | awk '{print $(NF-1)}'))"
    echo
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); each figure the best of $runs rounds"
    exit 0
fi

# Model A's steps are ~20 times shorter than B's and C's: it runs 10 × STEPS of them, so that
# each of its figures, too, spans a second or more (40 steps of A, a tenth of a second, swung
# 0.65–2.4 M tokens/s from run to run on a shared machine).
model_steps() { if [ "$1" = A ]; then echo $((10 * steps)); else echo "$steps"; fi; }

# Each contender's output is read whole before it is parsed: a parser started beside it in a
# pipe (Python's start-up, ~30 ms of a core) took a core from 2 threads' first timed steps of
# model A, whose 400 steps last a quarter of a second, and not from `-np 2`'s, which mpirun
# starts later. Six runs each, 2026-12-02 (Zen 5): 2 threads 3.7–4.7 M tokens/s parsed in a
# pipe, with their median steps at 4.9–5.7 M; 4.5–5.2 M read whole, like `-np 2`'s 4.4–5.3 M.
ours() {  # ours MODEL EXTRA... -> "tokens/s GFLOP/s"
    local out
    out=$("$binary" bench --data "$data" --models "$1" --steps "$(model_steps "$1")" "${@:2}" 2>/dev/null) \
        && python3 -c 'import json,sys; r=json.loads(sys.argv[1].splitlines()[0]); print(int(r["tokens_per_s"]), r["gflops"])' "$out" \
        || echo "- -"
}
# The kernel path's tile ceiling on 2 threads (`bench --kernels`: its micro-kernel with the
# operands in L1), the best of a measurement before and after the models: the most any model
# could reach, against which each model's GFLOP/s on 2 threads is given.
ceiling() { local out; out=$("$binary" bench --kernels 2>/dev/null); awk '/^2 thread.*tile ceiling/ {print $(NF-1)}' <<<"$out"; }
peer() {  # peer MODEL SCRIPT ARGS... -> tokens/s, or "-" without the peers
    local model_step_count; model_step_count=$(model_steps "$1"); shift
    if have_peers && [ -f "$peers/$1" ]; then
        local out
        out=$("${peer_env[@]}" "$py" "$peers/$1" --data "$data" --steps $((model_step_count + 5)) --quiet "${@:2}" 2>/dev/null) \
            && python3 -c 'import json,sys; print(int(json.loads(sys.argv[1].splitlines()[-1])["tokens_per_s"]))' "$out" || echo -
    else
        echo "-"
    fi
}

# Each figure is the median of $runs runs, the contenders taking turns, so that a noisy
# minute on a shared machine hits them alike.
ceiling_before=$(ceiling)
printf '| model | rnn-dist 2 threads | rnn-dist `-np 2` × 1 | numpy 1T | numpy 2T | PyTorch one-hot 2T | PyTorch embed 2T | 2 threads / best peer | `-np 2` / best peer | 2 threads / `-np 2` | 2 threads: GFLOP/s |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for model in A B C; do
    two=(); flops=(); np2=(); n1=(); n2=(); onehot=(); embed=()
    case $model in A) hidden=64; cell=rnn; numpy_args=(--embed --batched-wgrad) ;;
                   B) hidden=512; cell=rnn; numpy_args=() ;;
                   C) hidden=256; cell=lstm ;; esac
    # 2 threads and `-np 2` take turns going first, so that a drifting machine favours neither.
    # Model A, whose 2 threads must keep within 5 % of `-np 2`, runs twice as many times: its
    # runs are short, and the same 800 steps of it swung 1.16–2.02 M tokens/s from run to run
    # (2026-12-01).
    model_runs=$runs; if [ $model = A ]; then model_runs=$((2 * runs)); fi
    for run in $(seq "$model_runs"); do
        order="two np2"; if [ $((run % 2)) = 0 ]; then order="np2 two"; fi
        for contender in $order; do
            case $contender in
                two) read -r tokens rate <<<"$(ours $model --threads 2)"
                     two+=("$tokens"); flops+=("$rate") ;;
                np2) np2+=("$(ours $model --ranks 2 --threads 1 | cut -d' ' -f1)") ;;
            esac
        done
        if [ $cell = rnn ]; then
            n1+=("$(peer $model numpy_batched_rnn.py --hidden $hidden --threads 1 "${numpy_args[@]}")")
            n2+=("$(peer $model numpy_batched_rnn.py --hidden $hidden --threads 2 "${numpy_args[@]}")")
        else
            n1+=("-"); n2+=("-")   # the numpy peer has no LSTM
        fi
        onehot+=("$(peer $model torch_charrnn.py --cell $cell --hidden $hidden --threads 2 --input onehot)")
        embed+=("$(peer $model torch_charrnn.py --cell $cell --hidden $hidden --threads 2 --input embed)")
    done
    flops=$(median_to 1 "${flops[@]}")
    two=$(median "${two[@]}"); np2=$(median "${np2[@]}"); n1=$(median "${n1[@]}"); n2=$(median "${n2[@]}")
    onehot=$(median "${onehot[@]}"); embed=$(median "${embed[@]}")
    best=$(python3 -c "v=[int(x) for x in ['$n1','$n2','$onehot','$embed'] if x != '-']; print(max(v) if v else '-')")
    printf '| %s: %s H %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$model" "$cell" "$hidden" \
        "$(thousands "$two")" "$(thousands "$np2")" "$(thousands "$n1")" "$(thousands "$n2")" \
        "$(thousands "$onehot")" "$(thousands "$embed")" \
        "$(ratio "$two" "$best")" "$(ratio "$np2" "$best")" "$(ratio "$two" "$np2")" "$flops"
done
ceiling_after=$(ceiling)
echo
echo "tile ceiling on 2 threads (operands in L1): $ceiling_before GFLOP/s before the models, $ceiling_after after"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Usage: bash launch/bench-network.sh [STEPS]
#
# Model B (rnn H 512, batch 64 × 50, Adagrad, 1 thread per rank) on 2 ranks: on one host
# (shared memory) and on two hosts over TCP (launch/two-hosts.sh) with the link unlimited, at
# 1 Gbit/s and at 100 Mbit/s, each with train.allreduce_dtype float32 and bfloat16. Prints one
# Markdown row per case: tokens/s, the step time, and comm_s (seconds per step the step spent
# in the communicator) with its share of the step, averaged over STEPS steps (default 60)
# after 10 warm-up steps. A last row doubles the global batch at 100 Mbit/s with
# train.accumulate 2 (the same activation memory per rank, half the allreduces per token). Needs what launch/two-hosts.sh needs (root, ip, tc). The binary is
# $RNN_DIST, else this checkout's release build; the corpus $DATA, else data/tinyshakespeare.txt.
# THREADS=2 runs each rank with 2 threads (thread replicas, whose sums stream into the
# reductions the same way) instead of 1; LINKS="1gbit" runs only the links named.
# DTYPES="float32" runs only the float32 rows (and then never sets the key, so a build from
# before train.allreduce_dtype existed can be measured for comparison).
# Measure on a quiet machine: the load before and after is printed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
steps=${1:-60}
binary=${RNN_DIST:-$here/.build/release/rnn-dist}
data=${DATA:-$here/data/tinyshakespeare.txt}
[ -x "$binary" ] || { echo "bench-network.sh: no binary at $binary (swift build -c release)" >&2; exit 2; }
[ -f "$data" ] || { echo "bench-network.sh: no corpus at $data (bash launch/fetch-data.sh, or DATA=any.txt)" >&2; exit 2; }
scratch=$(mktemp -d "${TMPDIR:-/tmp}/bench-network.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores; $(grep -q avx512f /proc/cpuinfo && echo avx512f || echo 'no avx512f'))"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| where | link | allreduce_dtype | batch | tokens/s | step | comm_s | comm share |"
echo "|---|---|---|---|---:|---:|---:|---:|"
run() {   # where link dtype [batch accumulate]
    local where=$1 link=$2 dtype=$3 batch=${4:-64} accumulate=${5:-1}
    local metrics=$scratch/$where-$link-$dtype-$batch.jsonl
    local args=(--set "data.path=$data" --set model.cell=rnn --set model.activation=tanh
                --set model.hidden_size=512 --set "train.batch_size=$batch" --set "train.accumulate=$accumulate" --set train.seq_length=50
                --set train.optimizer=adagrad --set train.lr=0.01 --set train.clip_value=5
                --set "train.threads=${THREADS:-1}" --set "train.max_steps=$((10 + steps))" --set train.epochs=1000
                --set log.every=10 --set log.val_every=null --set sample.every=1000000
                --set checkpoint.every=1000000 --set "checkpoint.dir=$scratch/ckpt" --set "log.metrics=$metrics")
    [ "$dtype" = float32 ] || args+=(--set "train.allreduce_dtype=$dtype")
    if [ "$where" = one-host ]; then
        mpirun -np 2 --bind-to none --allow-run-as-root "$binary" configs/shakespeare.json "${args[@]}" > /dev/null
    else
        local rate=()
        [ "$link" != unlimited ] && rate=(--rate "$link")
        bash "$here/launch/two-hosts.sh" "${rate[@]}" "$binary" configs/shakespeare.json "${args[@]}" > /dev/null 2> "$scratch/err" \
            || { cat "$scratch/err" >&2; exit 1; }
    fi
    # Interval lines after the warm-up's: the mean rate and the mean comm_s per step.
    python3 - "$metrics" "$where" "$link" "$dtype" "$batch" "$accumulate" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if '"tokens_per_s"' in l]
lines = [l for l in lines if l["step"] > 10]
rate = len(lines) / sum(1 / l["tokens_per_s"] for l in lines)          # harmonic mean: equal steps
comm = sum(l["comm_s"] for l in lines) / len(lines)
batch, accumulate = int(sys.argv[5]), int(sys.argv[6])
step = batch * 50 / rate
shown = f"{batch} × 50" + (f", accumulate {accumulate}" if accumulate > 1 else "")
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {shown} | {rate / 1000:.1f} k | {step * 1000:.0f} ms | {comm * 1000:.1f} ms | {100 * comm / step:.1f} % |")
EOF
}
cd "$here"
for dtype in ${DTYPES:-float32 bfloat16}; do
    run one-host shared-memory "$dtype"
    for link in ${LINKS:-unlimited 1gbit 100mbit}; do run two-hosts "$link" "$dtype"; done
done
[ -n "${LINKS:-}" ] || run two-hosts 100mbit float32 128 2
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

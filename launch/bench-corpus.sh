#!/usr/bin/env bash
# Usage: bash launch/bench-corpus.sh [GB]          (default 2)
# Environment: RANKS=N (default 2), STEPS=N (default 5), CONFIG=FILE (default
#              configs/shakespeare-words.json), TOKENIZERS="char word", WORK=DIR (where the corpus
#              goes, default /tmp), SCRATCH=DIR (the build folder, default .build), DATA=FILE
#              (the text repeated, default data/tinyshakespeare.txt), TEXT=1 (also train from the
#              text itself, for comparison: slow and memory-hungry by design).
#
# Large corpora, measured: generates a corpus of GB gigabytes by repeating Tiny Shakespeare,
# prepares it with each tokenizer (`rnn-dist prepare`) and reports the throughput (MB of text
# per second of wall-clock and of CPU time) and peak memory; then trains STEPS steps of CONFIG
# from each token file on RANKS ranks, and the same model on Tiny Shakespeare alone, reporting
# the start-up (from launch to the first metrics line, mpirun included) and the peak RSS of
# every rank. The corpus and token files are deleted at the end, whatever happens.
#
# Wall-clock figures on a shared machine follow its load (printed first; see `uptime`): CPU
# seconds say what the work costs.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
gb=${1:-2}
case $gb in ''|*[!0-9.]*) echo "bench-corpus: GB must be a number (got '$gb')" >&2; exit 2 ;; esac
ranks=${RANKS:-2}
steps=${STEPS:-5}
config=${CONFIG:-$here/configs/shakespeare-words.json}
tokenizers=${TOKENIZERS:-char word}
work=${WORK:-/tmp}
scratch=${SCRATCH:-.build}
data=${DATA:-$here/data/tinyshakespeare.txt}
[ -f "$data" ] || data=$here/../shared/data/tinyshakespeare.txt
[ -f "$data" ] || { echo "bench-corpus: no Tiny Shakespeare (bash launch/fetch-data.sh, or DATA=FILE)" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "bench-corpus: needs mpirun (bash launch/setup.sh)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench-corpus: needs GNU time (apt-get install -y time)" >&2; exit 2; }

bytes=$(awk -v g="$gb" 'BEGIN { printf "%d", g * 1e9 }')
free=$(df -P -B1 "$work" | awk 'NR == 2 { print $4 }')
need=$((bytes * 5 / 2))   # the text, its char tokens (as large), its word tokens (about half)
[ "$free" -gt "$need" ] || { echo "bench-corpus: $work has $((free >> 30)) GiB free, $((need >> 30)) GiB needed (WORK=DIR elsewhere)" >&2; exit 2; }

(cd "$here" && swift build -c release --scratch-path "$scratch" >&2)
binary=$here/$scratch/release/rnn-dist
dir=$(mktemp -d "$work/rnn-dist-bench-corpus.XXXXXX")
trap 'rm -rf "$dir"' EXIT
corpus=$dir/corpus.txt

size=$(stat -c %s "$data")
for ((i = 0; i < (bytes + size - 1) / size; i++)); do cat "$data"; done > "$corpus"
mpi=(mpirun -np "$ranks" --bind-to none --oversubscribe)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores), $(free -g | awk '/^Mem:/ { print $2 }') GB"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "corpus: $(stat -c %s "$corpus") bytes ($data repeated); config: ${config#$here/}; $ranks ranks, $steps steps"
echo
echo "| step | tokenizer | wall s | CPU s | MB/s (wall) | MB/s (CPU) | peak RSS |"
echo "|---|---|---:|---:|---:|---:|---:|"
for tokenizer in $tokenizers; do
    out=$dir/corpus.$tokenizer.tokens
    read -r wall user sys rss < <(/usr/bin/time -f "%e %U %S %M" "$binary" prepare "$config" --set data.path="$corpus" \
        --set data.tokenizer="$tokenizer" --output "$out" 2>&1 >/dev/null | tail -1)
    [ -f "$out" ] || { echo "bench-corpus: prepare $tokenizer failed" >&2; exit 1; }
    awk -v t="$tokenizer" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$(stat -c %s "$corpus")" \
        'BEGIN { printf "| prepare | %s | %.1f | %.1f | %.0f | %.0f | %.0f MiB |\n", t, w, u + s, b / 1e6 / w, b / 1e6 / (u + s), r / 1024 }'
done

# Trains STEPS steps on RANKS ranks; prints "start-up | step | RSS per rank": the seconds from
# launch to the first metrics line (after step 1), those between the first two lines (a step),
# and every rank's peak RSS.
train() {  # train NAME DATA TOKENIZER
    local log=$dir/$1.log err=$dir/$1.err start
    start=$(date +%s.%N)
    "${mpi[@]}" /usr/bin/time -f "peak-rss %M" "$binary" "$config" --set data.path="$2" --set data.tokenizer="$3" \
        --set train.max_steps="$steps" --set log.every=1 --set log.val_every=null --set log.metrics=null \
        --set sample.every=1000000 --set checkpoint.dir="$dir/ckpt-$1" 2>"$err" | {
        while IFS= read -r line; do
            [[ $line == step\ * ]] && date +%s.%N >> "$dir/$1.times"
            echo "$line" >> "$log"
        done
    } || { echo "bench-corpus: training $1 failed:" >&2; cat "$err" >&2; exit 1; }
    awk -v a="$start" 'NR == 1 { first = $1 } NR == 2 { second = $1 } END { printf "%.2f s | %.2f s", first - a, second - first }' "$dir/$1.times"
    printf " | %s\n" "$(awk '/peak-rss [0-9]+$/ { printf "%s%.0f MiB", sep, $NF / 1024; sep = ", " }' "$err")"
}

echo
echo "| training from | tokenizer | start-up (launch to first metrics line) | a step | peak RSS per rank |"
echo "|---|---|---:|---:|---|"
for tokenizer in $tokenizers; do
    echo "| Tiny Shakespeare (text) | $tokenizer | $(train "ts-$tokenizer" "$data" "$tokenizer") |"
    echo "| $gb GB token file | $tokenizer | $(train "big-$tokenizer" "$dir/corpus.$tokenizer.tokens" "$tokenizer") |"
    if [ "${TEXT:-0}" = 1 ]; then
        echo "| $gb GB text | $tokenizer | $(train "text-$tokenizer" "$corpus" "$tokenizer") |"
    fi
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

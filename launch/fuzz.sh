#!/usr/bin/env bash
# Usage: bash launch/fuzz.sh [SECONDS]     (default 600; 0 = until stopped)
#
# Coverage-guided fuzzing (libFuzzer) of the parsers of what users hand the trainer:
# checkpoints, token files, configs and `--set` overrides (Tests/TrainingTests/FuzzHarness.swift
# says how an input is read). Training and what it uses are built with coverage
# instrumentation (`-sanitize=fuzzer`, plus `-enable-testing` for the harness's
# `@testable import`); the harness is then compiled and linked by swiftc itself, because a
# SwiftPM executable brings its own `main` and libFuzzer brings one too.
#
# The corpus grows in .build-fuzz/corpus, seeded with a real checkpoint, token file and config
# made by the release binary. An input that crashes, traps or hangs is written to
# .build-fuzz/crash-* (or timeout-*, oom-*); copy it into Fuzz/regressions/ and
# `FuzzRegressionTests` replays it in every test run.
set -euo pipefail
seconds=${1:-600}
case $seconds in ''|*[!0-9]*) echo "fuzz: SECONDS must be a whole number (got '$seconds')" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scratch=.build-fuzz
mkdir -p "$scratch"

swift build -c release --scratch-path "$scratch" --target Training \
    -Xswiftc -sanitize=fuzzer -Xswiftc -enable-testing >&2
build=$scratch/release
objects=()
for target in Training Model Kernels Distributed CMPIShim CKernelISA RealModule _NumericsShims; do
    objects+=("$build/$target.build"/*.o)
done
module_maps=()
for map in "$build"/*.build/module.modulemap Sources/CMPI/module.modulemap; do
    [ -f "$map" ] && module_maps+=(-Xcc "-fmodule-map-file=$map")
done
includes=()
for dir in Sources/*/include "$(find "$scratch/checkouts" -path '*_NumericsShims/include' -print -quit)"; do
    [ -d "$dir" ] && includes+=(-Xcc "-I$dir")
done
# shellcheck disable=SC2046
swiftc -O -parse-as-library -sanitize=fuzzer -enable-testing -target-cpu native \
    -I "$build/Modules" "${module_maps[@]}" "${includes[@]}" $(pkg-config --cflags-only-I ompi-c | sed 's/-I/-Xcc -I/g') \
    Tests/TrainingTests/FuzzHarness.swift "${objects[@]}" $(pkg-config --libs ompi-c) \
    -o "$scratch/rnn-dist-fuzz" >&2

# Seeds: one valid input of each kind, behind the byte that chooses its parser (0 checkpoint,
# 2 token file, 4 config), and the inputs kept in Fuzz/regressions.
corpus=$scratch/corpus
if [ ! -d "$corpus" ]; then
    mkdir -p "$corpus"
    swift build -c release >&2
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
    head -c 20000 README.md > "$work/text.txt"
    cat > "$work/config.json" <<JSON
{"data": {"path": "$work/text.txt", "val_fraction": 0.1},
 "model": {"cell": "lstm", "hidden_size": 8},
 "train": {"batch_size": 4, "seq_length": 8, "max_steps": 2},
 "checkpoint": {"dir": "$work/checkpoints", "every": 2},
 "log": {"metrics": "$work/metrics.jsonl"}}
JSON
    .build/release/rnn-dist "$work/config.json" --ranks 1 >/dev/null
    .build/release/rnn-dist prepare "$work/config.json" >/dev/null
    { printf '\x00'; cat "$work/checkpoints/latest"; } > "$corpus/seed-checkpoint"
    { printf '\x02'; cat "$work/text.txt.tokens"; } > "$corpus/seed-tokens"
    { printf '\x04'; cat "$work/config.json"; } > "$corpus/seed-config"
fi
cp Fuzz/regressions/* "$corpus/" 2>/dev/null || true

cd "$scratch"
exec ./rnn-dist-fuzz -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
    -print_final_stats=1 corpus

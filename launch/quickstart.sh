#!/usr/bin/env bash
# Usage: bash launch/quickstart.sh [rnn-dist train options...]
#
# The README's first command: from a fresh clone on Debian with Swift to a trained model.
#   1. installs OpenMPI when it is missing (launch/setup.sh: as root; otherwise it prints the
#      apt-get line to run and exits 2),
#   2. builds rnn-dist in release mode,
#   3. fetches the corpora (launch/fetch-data.sh); offline it says so in one line and trains on
#      this repository's own text (README and Swift sources) instead of the Berkshire letters,
#   4. trains configs/berkshire.json on 4 MPI ranks (`rnn-dist --ranks 4` starts mpirun -np 4),
#   5. prints a sample from the last checkpoint and where the checkpoints and metrics are.
# Options go to the training command:  bash launch/quickstart.sh --set train.epochs=2
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "quickstart: $*"; }

command -v swift >/dev/null 2>&1 || { say "needs a Swift 6 toolchain on the PATH (swift.org/install)" >&2; exit 2; }
bash launch/setup.sh

say "building (release; a few minutes the first time)"
swift build -c release
binary=.build/release/rnn-dist

fetched=$(mktemp)
trap 'rm -f "$fetched"' EXIT
bash launch/fetch-data.sh 2>"$fetched" || true
run=(configs/berkshire.json --ranks 4)
if [ -s data/berkshire.txt ]; then
    checkpoints=checkpoints/berkshire
    metrics=runs/berkshire/metrics.jsonl
else
    # Offline: the same job on text this repository carries, in folders of its own so that a
    # later run on the letters neither resumes from nor ranks against these checkpoints.
    text=data/repository-text.txt
    mkdir -p data
    { cat README.md; find Sources -name '*.swift' -print0 | LC_ALL=C sort -z | xargs -0 cat; } > "$text"
    checkpoints=checkpoints/berkshire-offline
    metrics=runs/berkshire-offline/metrics.jsonl
    reason=$(sed -n -e 's/^fetch-data: could not download [^ ]* (\(.*\))$/\1/p' -e 's/^fetch-data: //p' "$fetched" | head -n 1)
    say "could not fetch the corpora (${reason:-see launch/fetch-data.sh}): offline, the same model trains on this repository's own text, $text ($(( $(wc -c < "$text") / 1024 )) KB)"
    run+=(--set "data.path=$text" --set "checkpoint.dir=$checkpoints" --set "log.metrics=$metrics")
fi

say "$binary ${run[*]} $*"
"$binary" "${run[@]}" "$@"

say "a sample from the trained model ($binary sample --checkpoint $checkpoints/latest --temperature 0.8):"
"$binary" sample --checkpoint "$checkpoints/latest" --length 400 --temperature 0.8
echo
plot=$(dirname "$metrics")/metrics.svg
say "done in $((SECONDS / 60))m$((SECONDS % 60))s: checkpoints in $checkpoints/ ($checkpoints/latest is the newest), metrics in $metrics$([ -f "$plot" ] && echo ", loss curves in $plot")"

#!/usr/bin/env bash
# Usage: launch/mpirun.sh N CONFIG [rnn-dist options...]
#
# Runs `mpirun -np N rnn-dist CONFIG ...` on this machine with the flags OpenMPI needs here:
# --oversubscribe when N exceeds the cores (OpenMPI refuses otherwise), --allow-run-as-root
# when run as root (containers, CI), and --bind-to none so each rank's threads can use the
# cores rnn-dist gives it (cores / ranks on the node). The binary is $RNN_DIST, else this
# checkout's release build (built here when missing).
#   launch/mpirun.sh 4 configs/berkshire.json --set train.max_steps=1000
set -euo pipefail

if [ $# -lt 2 ]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
ranks=$1; shift
here=$(cd "$(dirname "$0")/.." && pwd)
binary=${RNN_DIST:-$here/.build/release/rnn-dist}
if [ ! -x "$binary" ]; then
    echo "mpirun.sh: building $binary" >&2
    (cd "$here" && swift build -c release >&2)
fi
command -v mpirun >/dev/null 2>&1 || { echo "mpirun.sh: mpirun not found (Debian: apt-get install -y openmpi-bin libopenmpi-dev)" >&2; exit 2; }

flags=(-np "$ranks" --bind-to none)
[ "$ranks" -gt "$(nproc)" ] && flags+=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
exec mpirun "${flags[@]}" "$binary" "$@"

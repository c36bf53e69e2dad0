#!/usr/bin/env bash
# Usage: launch/mpirun.sh N CONFIG [rnn-dist options...]
#
# Runs `mpirun -np N rnn-dist CONFIG ...` on this machine with the flags OpenMPI needs here:
# --oversubscribe when N exceeds the cores (OpenMPI refuses otherwise), --allow-run-as-root
# when run as root (containers, CI), and --bind-to none so each rank's threads can use the
# cores rnn-dist gives it (cores / ranks on the node). The binary is $RNN_DIST, else this
# checkout's release build (built here when missing).
#   launch/mpirun.sh 4 configs/berkshire.json --set train.max_steps=1000
#
# SIGTERM, SIGINT (Ctrl-C) or SIGUSR1 sent to this script stop the run cleanly: they reach the
# ranks as SIGUSR1, which mpirun forwards, so the ranks agree on a stop step, rank 0
# checkpoints it, and the script exits 0. (mpirun answers SIGTERM and SIGINT by killing the job
# and exiting 1, so it runs in a process group of its own, out of reach of a terminal's Ctrl-C.)
# Should mpirun itself be signalled, its ranks get 3 s between its SIGTERM and its SIGKILL
# (odls_base_sigkill_timeout, OpenMPI's default 1 s; OMPI_MCA_odls_base_sigkill_timeout in the
# environment overrides it) to finish the stop step.
set -euo pipefail

if [ $# -lt 2 ]; then
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
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

flags=(-np "$ranks" --bind-to none --mca odls_base_sigkill_timeout "${OMPI_MCA_odls_base_sigkill_timeout:-3}")
[ "$ranks" -gt "$(nproc)" ] && flags+=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)

# shellcheck source=lib/forward-stops.sh
source "$(dirname "$0")/lib/forward-stops.sh"
run_forwarding_stops mpirun "${flags[@]}" "$binary" "$@"

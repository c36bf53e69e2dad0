#!/usr/bin/env bash
# Usage: qsub -v CONFIG=configs/berkshire.json launch/pbs.sh
#
# A PBS/Torque job: mpirun starts one rank per allocated slot from $PBS_NODEFILE. Extra
# rnn-dist options go in ARGS (qsub -v CONFIG=...,ARGS="--set train.max_steps=1000").
# `--resume auto` continues from the newest valid checkpoint, so resubmitting the same job
# after a wall-time kill or a crash picks up where it left off.
#
# qdel and the wall-time limit send SIGTERM to the job's processes, then SIGKILL after the
# server's kill_delay: the ranks stop at the next step and rank 0 checkpoints it. This script
# passes a SIGTERM it receives on to mpirun as SIGUSR1, and gives the ranks 3 s between
# mpirun's own SIGTERM and SIGKILL (odls_base_sigkill_timeout, OpenMPI's default 1 s;
# OMPI_MCA_odls_base_sigkill_timeout in the environment overrides it).
#
#PBS -N rnn-dist
#PBS -l select=1:ncpus=4:mpiprocs=4
#PBS -l walltime=04:00:00
#PBS -j oe
set -euo pipefail

cd "${PBS_O_WORKDIR:-.}"
config=${CONFIG:?pass the config: qsub -v CONFIG=configs/berkshire.json launch/pbs.sh}
binary=${RNN_DIST:-$PWD/.build/release/rnn-dist}
ranks=$(wc -l < "$PBS_NODEFILE")
set -m   # mpirun in a process group of its own, so that only the trap below signals it
# shellcheck disable=SC2086  # ARGS is a list of options
mpirun -np "$ranks" --hostfile "$PBS_NODEFILE" --bind-to none \
    --mca odls_base_sigkill_timeout "${OMPI_MCA_odls_base_sigkill_timeout:-3}" \
    "$binary" "$config" --resume auto ${ARGS:-} &
job=$!
set +m
trap 'kill -USR1 "$job" 2>/dev/null || true' TERM INT USR1
while true; do   # `wait` returns early when a trapped signal arrives
    status=0
    wait "$job" || status=$?
    kill -0 "$job" 2>/dev/null || break
done
exit "$status"

#!/usr/bin/env bash
# Usage: qsub -v CONFIG=configs/berkshire.json launch/pbs.sh
#
# A PBS/Torque job: mpirun starts one rank per allocated slot from $PBS_NODEFILE. Extra
# rnn-dist options go in ARGS (qsub -v CONFIG=...,ARGS="--set train.max_steps=1000").
# `--resume auto` continues from the newest valid checkpoint, so resubmitting the same job
# after a wall-time kill or a crash picks up where it left off.
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
# shellcheck disable=SC2086  # ARGS is a list of options
exec mpirun -np "$ranks" --hostfile "$PBS_NODEFILE" --bind-to none "$binary" "$config" --resume auto ${ARGS:-}

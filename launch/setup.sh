#!/usr/bin/env bash
# Usage: bash launch/setup.sh [--tests]
#
# Installs what building, running and testing rnn-dist needs beyond a Swift toolchain, when it
# is missing: OpenMPI (mpirun, and <mpi.h> found through pkg-config's ompi-c), pkg-config,
# pgrep (the multi-rank tests find rank processes with it) and iproute2's ip and tc (the
# two-host test and launch/two-hosts.sh build a network with them). With --tests (.ci/run), also
# what builds and runs the AArch64 register tile on x86 (CrossISATileTests): qemu-user and an
# AArch64 cross linker with its C library. As root on Debian it runs apt-get; otherwise it
# prints the apt-get line to run and exits 2. launch/quickstart.sh and .ci/run both start with
# it, so the README's two commands and CI install the same things.
set -euo pipefail

need=()
command -v mpirun >/dev/null 2>&1 || need+=(openmpi-bin)
pkg-config --exists ompi-c 2>/dev/null || need+=(libopenmpi-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v pgrep >/dev/null 2>&1 || need+=(procps)
{ command -v ip && command -v tc; } >/dev/null 2>&1 || need+=(iproute2)
if [ "${1:-}" = --tests ] && [ "$(uname -m)" = x86_64 ]; then
    command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
    command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu)
    [ -e /usr/aarch64-linux-gnu/lib/libc.a ] || need+=(libc6-dev-arm64-cross)
    [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
    command -v gcc >/dev/null 2>&1 || need+=(gcc)
fi
[ ${#need[@]} -eq 0 ] && exit 0

install="apt-get install -y --no-install-recommends ${need[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: missing ${need[*]} (Debian's names); install OpenMPI's mpirun and headers with this system's package manager" >&2
    exit 2
elif [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        echo "setup: missing ${need[*]}; install them, then run this again:" >&2
        echo "  sudo apt-get update && sudo $install" >&2
    else
        echo "setup: missing ${need[*]}; install them as root, then run this again:" >&2
        echo "  apt-get update && $install" >&2
    fi
    exit 2
fi
echo "setup: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# A fresh machine may be running its own apt (unattended upgrades): wait for dpkg's lock.
$install -q -o DPkg::Lock::Timeout=600

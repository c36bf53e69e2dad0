#!/usr/bin/env bash
# Usage: bash Tests/CrossISA/check.sh <neon|neon-oversized|avx2|avx512|generic> OUTDIR
#        RNN_DIST_TILE_CPU=haswell bash Tests/CrossISA/check.sh avx512 OUTDIR   (built for another CPU)
#
# Builds TileHarness.swift with the Float product's sources for one register tile as Embedded
# Swift (no Swift runtime needed for the target), links it statically, writes the object's
# disassembly (names demangled) to OUTDIR/disassembly.txt and runs the harness: under qemu-user
# for the AArch64 tiles, natively for the x86 ones when the build is for one of the tiles' own
# CPUs and this CPU has its ISA (otherwise it prints "not run: …" and only builds).
# `neon-oversized` is a control: a tile of 8 rows × 2 SIMD16 (64 q registers of accumulators)
# that must spill. CrossISATileTests runs this and reads both. Needs, for AArch64, Debian's
# qemu-user-static, gcc-aarch64-linux-gnu and libc6-dev-arm64-cross (`launch/setup.sh --tests`,
# which .ci/run runs, installs them).
set -euo pipefail

usage="usage: check.sh <neon|neon-oversized|avx2|avx512|generic> OUTDIR"
tile=${1:?$usage}
out=${2:?$usage}
here=$(cd "$(dirname "$0")" && pwd)
kernels="$here/../../Sources/Kernels"
header="$here/../../Sources/CKernelISA/include/CKernelISA.h"
mkdir -p "$out"

# The toolchain's own directory (llvm-objdump, ld.lld, swift-demangle and the Embedded
# libraries sit beside swiftc there), from the compiler itself: `swiftc` on the PATH may be a
# symlink or a shim.
resources=$(swiftc -print-target-info 2>/dev/null | sed -n 's/.*"runtimeResourcePath": "\(.*\)".*/\1/p' | head -n 1)
[ -n "$resources" ] || { echo "check.sh: no Swift compiler found (swiftc -print-target-info)" >&2; exit 3; }
toolchain="$resources/../../bin"

# The sources of the Float product and its tile, which need neither Foundation, Dispatch nor
# swift-numerics.
sources=("$kernels/FloatVector.swift" "$kernels/MicroTile.swift" "$kernels/MicroKernel.swift"
         "$kernels/DotEdge.swift" "$kernels/GemmFloatKernel.swift" "$kernels/PanelPacking.swift"
         "$kernels/Partition.swift" "$kernels/KernelPath.swift" "$kernels/CacheAligned.swift"
         "$kernels/VectorExp.swift" "$kernels/CPUFeatures.swift" "$here/TileHarness.swift")
printf 'module CKernelISA {\n    header "%s"\n    export *\n}\n' "$header" > "$out/module.modulemap"

qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
case "$tile" in
    neon|neon-oversized)
        target=aarch64-none-none-elf; cpu=${RNN_DIST_TILE_CPU:-generic}; link=aarch64-linux-gnu-gcc; run=("$qemu")
        define=(); [ "$tile" = neon-oversized ] && define=(-D TILE_OVERSIZED)
        for tool in aarch64-linux-gnu-gcc "$qemu"; do
            [ -n "$tool" ] && command -v "$tool" >/dev/null || {
                echo "check.sh: ${tool:-qemu-aarch64} not found (apt-get install qemu-user-static gcc-aarch64-linux-gnu libc6-dev-arm64-cross)" >&2
                exit 3
            }
        done ;;
    avx2) target=x86_64-unknown-linux-gnu; cpu=${RNN_DIST_TILE_CPU:-haswell}; define=(-D TILE_AVX2); link=gcc; run=() ;;
    avx512) target=x86_64-unknown-linux-gnu; cpu=${RNN_DIST_TILE_CPU:-skylake-avx512}; define=(-D TILE_AVX512); link=gcc; run=() ;;
    generic) target=x86_64-unknown-linux-gnu; cpu=${RNN_DIST_TILE_CPU:-x86-64}; define=(); link=gcc; run=() ;;
    *) echo "check.sh: unknown tile '$tile' ($usage)" >&2; exit 2 ;;
esac

# As the package builds Kernels in release: -Ounchecked, whole module, the tile's target CPU.
"$toolchain/swiftc" -target "$target" -target-cpu "$cpu" -enable-experimental-feature Embedded \
    -enable-experimental-feature Extern -wmo -Ounchecked -parse-as-library -module-name harness \
    "${define[@]}" -I "$out" "${sources[@]}" -c -o "$out/harness.o"
"$toolchain/llvm-objdump" -d --no-show-raw-insn "$out/harness.o" | "$toolchain/swift-demangle" > "$out/disassembly.txt"
# The Unicode tables: KernelPath's String raw values bring in String comparison.
tables="$resources/embedded/$target/libswiftUnicodeDataTables.a"
"$link" -static -fuse-ld=lld -B "$toolchain" "$out/harness.o" "$tables" -lm -o "$out/harness"

# Run only what this CPU runs: an x86 build for a CPU this script knows, whose ISA it has.
case "$target:$cpu" in
    aarch64*) ;;
    *:x86-64) ;;
    *:haswell) grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo || { echo "not run: this CPU has no AVX2 + FMA"; exit 0; } ;;
    *:skylake-avx512) grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo || { echo "not run: this CPU has no AVX-512"; exit 0; } ;;
    *) echo "not run: built for $cpu, which this script cannot match to this CPU"; exit 0 ;;
esac
"${run[@]}" "$out/harness"

#!/usr/bin/env bash
# Usage: bash Tests/CrossISA/check.sh <neon|avx2|avx512|generic> OUTDIR
#        TARGET_CPU=haswell bash Tests/CrossISA/check.sh avx512 OUTDIR   (a tile built for another CPU)
#
# Builds TileHarness.swift with the kernels' ISA-generic sources for one register tile as
# Embedded Swift (no Swift runtime needed for the target), links it statically, writes the
# object's disassembly (names demangled) to OUTDIR/disassembly.txt and runs the harness: under qemu-aarch64 for
# neon, natively for the x86 tiles when this CPU has what the build needs (otherwise it says
# so and only builds). CrossISATileTests runs this and reads both. Needs, for neon, Debian's
# qemu-user-static, gcc-aarch64-linux-gnu and libc6-dev-arm64-cross (`launch/setup.sh
# --tests`, which .ci/run runs, installs them).
set -euo pipefail

tile=${1:?usage: check.sh <neon|avx2|avx512|generic> OUTDIR}
out=${2:?usage: check.sh <neon|avx2|avx512|generic> OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
kernels="$here/../../Sources/Kernels"
header="$here/../../Sources/CKernelISA/include/CKernelISA.h"
toolchain=$(dirname "$(command -v swiftc)")
mkdir -p "$out"

# The sources of the Float product and its tile, which need neither Foundation, Dispatch nor
# swift-numerics.
sources=("$kernels/FloatVector.swift" "$kernels/MicroTile.swift" "$kernels/MicroKernel.swift"
         "$kernels/DotEdge.swift" "$kernels/GemmFloatKernel.swift" "$kernels/Partition.swift"
         "$kernels/KernelPath.swift" "$kernels/CacheAligned.swift" "$kernels/VectorExp.swift"
         "$kernels/CPUFeatures.swift" "$here/TileHarness.swift")
printf 'module CKernelISA {\n    header "%s"\n    export *\n}\n' "$header" > "$out/module.modulemap"

case "$tile" in
    neon) target=aarch64-none-none-elf; cpu=${TARGET_CPU:-generic}; define=(); link=(aarch64-linux-gnu-gcc); run=(qemu-aarch64-static) ;;
    avx2) target=x86_64-unknown-linux-gnu; cpu=${TARGET_CPU:-haswell}; define=(-D TILE_AVX2); link=(gcc); run=() ;;
    avx512) target=x86_64-unknown-linux-gnu; cpu=${TARGET_CPU:-skylake-avx512}; define=(-D TILE_AVX512); link=(gcc); run=() ;;
    generic) target=x86_64-unknown-linux-gnu; cpu=${TARGET_CPU:-x86-64}; define=(); link=(gcc); run=() ;;
    *) echo "check.sh: unknown tile '$tile' (neon, avx2, avx512 or generic)" >&2; exit 2 ;;
esac
if [ "$tile" = neon ]; then
    for tool in aarch64-linux-gnu-gcc qemu-aarch64-static; do
        command -v "$tool" >/dev/null || { echo "check.sh: $tool not found (apt-get install qemu-user-static gcc-aarch64-linux-gnu libc6-dev-arm64-cross)" >&2; exit 3; }
    done
fi

# As the package builds Kernels in release: -Ounchecked, whole module, the tile's target CPU.
"$toolchain/swiftc" -target "$target" -target-cpu "$cpu" -enable-experimental-feature Embedded \
    -enable-experimental-feature Extern -wmo -Ounchecked -parse-as-library "${define[@]}" -I "$out" \
    "${sources[@]}" -c -o "$out/harness.o"
"$toolchain/llvm-objdump" -d --no-show-raw-insn "$out/harness.o" | "$toolchain/swift-demangle" > "$out/disassembly.txt"
# The Unicode tables: KernelPath's String raw values bring in String comparison.
tables="$toolchain/../lib/swift/embedded/$target/libswiftUnicodeDataTables.a"
"${link[@]}" -static -fuse-ld=lld -B "$toolchain" "$out/harness.o" "$tables" -lm -o "$out/harness"

case "$cpu" in
    haswell) grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo || { echo "not run: this CPU has no AVX2 + FMA"; exit 0; } ;;
    skylake-avx512) grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo || { echo "not run: this CPU has no AVX-512"; exit 0; } ;;
esac
"${run[@]}" "$out/harness"

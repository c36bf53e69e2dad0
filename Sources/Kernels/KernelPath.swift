/// The vector instruction family the kernels run for: each has its own register tile for the
/// matrix product (`MicroTile`) and its own vector width for the elementwise kernels.
///
/// The path is chosen once per process: `RNN_DIST_KERNEL` when it is set, otherwise the widest
/// path that both the build and the CPU can run. "The build" is what the Swift code was compiled
/// for (Package.swift's `-target-cpu`): a binary built for an AVX2 target runs the AVX2 tile on
/// an AVX-512 host too, because its code has no AVX-512 instructions and only 16 vector
/// registers to allocate. "The CPU" is cpuid's answer. Every public kernel takes a `path`
/// argument that defaults to `current`, so tests can run each path in one process. How the path
/// is chosen: `KernelPathSelection.swift`.
public enum KernelPath: String, CaseIterable, Sendable {
    /// 32 registers of 512 bits: the 8×32 tile of `SIMD16<Float>`.
    case avx512
    /// 16 registers of 256 bits (AVX2 + FMA): the 6×16 tile of `SIMD8<Float>`.
    case avx2
    /// AArch64 Advanced SIMD, 32 registers of 128 bits: the 8×12 tile of `SIMD4<Float>`.
    case neon
    /// Any CPU: a 4×8 tile of `SIMD4<Float>` that fits 16 registers of 128 bits.
    case generic
}

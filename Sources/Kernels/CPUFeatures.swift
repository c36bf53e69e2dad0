import CKernelISA

/// What the kernels were compiled for and what this CPU has, from the `CKernelISA` shim. The
/// compile-time answers come from the target CPU this module was built with (Package.swift's
/// `-target-cpu`), the run-time ones from cpuid and the OS's saved register state.
enum CPUFeatures {
    static var builtForAVX512: Bool { ckernelisa_compiled_avx512f() != 0 }
    static var builtForAVX2FMA: Bool { ckernelisa_compiled_avx2_fma() != 0 }
    static var builtForNEON: Bool { ckernelisa_compiled_neon() != 0 }
    /// Whether `addProduct` is one instruction. Without FMA (a baseline x86-64 build) LLVM lowers
    /// a fused multiply-add to a libm call per lane, so the kernels multiply and add instead.
    @inline(__always) static var builtWithFMA: Bool { ckernelisa_compiled_fma() != 0 }

    static var hasAVX512: Bool { ckernelisa_cpu_avx512f() != 0 }
    static var hasAVX2FMA: Bool { ckernelisa_cpu_avx2_fma() != 0 }

    /// The CPU's model name ("" where cpuid has none).
    static var cpuName: String {
        String(cString: ckernelisa_cpu_name()).trimmingCharacters(in: " ")
    }

    /// The `-target-cpu` the build was given ("native" unless RNN_DIST_TARGET_CPU said otherwise).
    static var targetCPU: String { String(cString: ckernelisa_target_cpu()) }
}

private extension String {
    func trimmingCharacters(in character: Character) -> String {
        String(drop { $0 == character }.reversed().drop { $0 == character }.reversed())
    }
}

/// Asks the CPU to start loading the cache line that holds `address` (a prefetch: no fault, no
/// effect on the result), for reads whose pattern its own prefetchers do not follow.
@inline(__always)
func prefetch(_ address: UnsafePointer<Float>) {
    ckernelisa_prefetch(address)
}

/// `prefetch` for each cache line of `count` elements from `address`: for reads scattered
/// over memory that would otherwise wait for one line after another. With `outerOnly`, into
/// L2 and beyond but not L1 (`ckernelisa_prefetch_outer`): for a copy to come while L1 holds
/// what the current one reads.
public func prefetch<T>(_ address: UnsafePointer<T>, count: Int, outerOnly: Bool = false) {
    let bytes = UnsafeRawPointer(address)
    @inline(__always) func hint(_ line: UnsafeRawPointer) {
        if outerOnly { ckernelisa_prefetch_outer(line) } else { ckernelisa_prefetch(line) }
    }
    for offset in stride(from: 0, to: count * MemoryLayout<T>.stride, by: 64) { hint(bytes + offset) }
    if count > 0 { hint(UnsafeRawPointer(address + (count - 1))) }
}

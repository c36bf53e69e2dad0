/// exp over a vector of floats. libm's `expf` is a call per element and cannot vectorise; the
/// softmax and the sigmoid/tanh activations spend most of their time in it at small H.
///
/// Cephes' method: x = n·ln2 + r with n = round(x·log2 e) and |r| <= ln2/2 (ln 2 split in two
/// parts so n·ln2 is exact), e^r by a degree-6 polynomial, 2^n by building the exponent bits.
/// Relative error about 2 ulp over the clamped range [-87.3, 88.7] (below it the result is
/// ~1e-38 instead of a denormal, which no softmax or activation can tell apart).
///
/// Registers: about 6 vectors live (x, t, n, r, p, r²) plus the constants, which x86 takes as
/// memory operands and NEON keeps in registers (~10 more). So the elementwise width per path is
/// one register per value where the register file is small — `SIMD8` (ymm) on AVX2's 16,
/// `SIMD4` on NEON and the generic path — and `SIMD16` (one zmm) on AVX-512 (the switches in `floatTanh`, `floatSoftmaxCrossEntropy`).
@inline(__always)
func vectorExp<V: FloatVector>(_ x: V) -> V {
    let clamped = x.clamped(low: -87.3, high: 88.7)
    // Adding 1.5·2²³ rounds x·log2 e to the nearest integer n and leaves n in the low
    // mantissa bits of t: no float→int conversion, which Swift's SIMD does lane by lane.
    let magic = V(broadcast: 12_582_912)
    let t = clamped * V(broadcast: 1.442_695_04) + magic
    let n = t - magic
    var r = clamped
    r.accumulate(n, times: V(broadcast: -0.693_359_375))
    r.accumulate(n, times: V(broadcast: 2.121_944_4e-4))
    // Horner's rule with explicit FMAs (`p * r + c` is never fused): p = c + p·r per step.
    var p = V(broadcast: 1.987_569_15e-4)
    p = fusedMultiplyAdd(p, r, 1.398_199_95e-3)
    p = fusedMultiplyAdd(p, r, 8.333_451_9e-3)
    p = fusedMultiplyAdd(p, r, 4.166_579_6e-2)
    p = fusedMultiplyAdd(p, r, 1.666_666_5e-1)
    p = fusedMultiplyAdd(p, r, 5.000_000_1e-1)
    let r2 = r * r
    var y = r + V(broadcast: 1)
    y.accumulate(p, times: r2)
    return y * V.powerOfTwo(shifted: t)
}

/// a·b + c in one rounding (where the build has FMA).
@inline(__always)
func fusedMultiplyAdd<V: FloatVector>(_ a: V, _ b: V, _ c: Float) -> V {
    var result = V(broadcast: c)
    result.accumulate(a, times: b)
    return result
}

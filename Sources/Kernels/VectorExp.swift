/// exp over 16 floats at once. libm's `expf` is a call per element and cannot vectorise; the
/// softmax and the sigmoid/tanh activations spend most of their time in it at small H.
///
/// Cephes' method: x = n·ln2 + r with n = round(x·log2 e) and |r| <= ln2/2 (ln 2 split in two
/// parts so n·ln2 is exact), e^r by a degree-6 polynomial, 2^n by building the exponent bits.
/// Relative error about 2 ulp over the clamped range [-87.3, 88.7] (below it the result is
/// ~1e-38 instead of a denormal, which no softmax or activation can tell apart).
@inlinable @inline(__always)
public func vectorExp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    // pointwiseMin/Max compile to vminps/vmaxps; SIMD.clamped stays an out-of-line generic call.
    let clamped = pointwiseMin(pointwiseMax(x, SIMD16(repeating: -87.3)), SIMD16(repeating: 88.7))
    // Adding 1.5·2²³ rounds x·log2 e to the nearest integer n and leaves n in the low
    // mantissa bits of t: no float→int conversion, which Swift's SIMD does lane by lane.
    let magic = SIMD16<Float>(repeating: 12_582_912)
    let t = clamped * 1.442_695_04 + magic
    let n = t - magic
    var r = clamped
    r.addProduct(n, SIMD16(repeating: -0.693_359_375))
    r.addProduct(n, SIMD16(repeating: 2.121_944_4e-4))
    // Horner's rule with explicit FMAs (`p * r + c` is never fused): p = c + p·r per step.
    var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
    p = fusedMultiplyAdd(p, r, 1.398_199_95e-3)
    p = fusedMultiplyAdd(p, r, 8.333_451_9e-3)
    p = fusedMultiplyAdd(p, r, 4.166_579_6e-2)
    p = fusedMultiplyAdd(p, r, 1.666_666_5e-1)
    p = fusedMultiplyAdd(p, r, 5.000_000_1e-1)
    let r2 = r * r
    var y = r + 1
    y.addProduct(p, r2)
    let exponent = (unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    return y * unsafeBitCast(exponent, to: SIMD16<Float>.self)
}

/// a·b + c in one rounding.
@inlinable @inline(__always)
func fusedMultiplyAdd(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: Float) -> SIMD16<Float> {
    var result = SIMD16<Float>(repeating: c)
    result.addProduct(a, b)
    return result
}

/// Σ of the 16 lanes by halving (8 + 4 + 2 + 1 adds). The standard library's `sum()` and
/// `max()` walk the lanes one at a time through memory, which cost more than the exps of a
/// 65-class softmax row.
@inlinable @inline(__always)
public func laneSum(_ v: SIMD16<Float>) -> Float {
    let v8 = v.lowHalf + v.highHalf
    let v4 = v8.lowHalf + v8.highHalf
    let v2 = v4.lowHalf + v4.highHalf
    return v2.x + v2.y
}

/// The larger of a and b in each lane (a NaN in a stays): one compare and one blend. The
/// standard library's `pointwiseMax` of two variables keeps IEEE maxNum semantics and compiles
/// lane by lane through memory; so does this compare-and-blend when written generically over
/// SIMD (checked in the assembly), hence concrete SIMD types here and in `laneMax`.
@inlinable @inline(__always)
public func lanewiseMax(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a.replacing(with: b, where: a .< b) }

/// The largest of the 16 lanes, by halving.
@inlinable @inline(__always)
public func laneMax(_ v: SIMD16<Float>) -> Float {
    let (a8, b8) = (v.lowHalf, v.highHalf)
    let v8 = a8.replacing(with: b8, where: a8 .< b8)
    let (a4, b4) = (v8.lowHalf, v8.highHalf)
    let v4 = a4.replacing(with: b4, where: a4 .< b4)
    return max(max(v4.x, v4.y), max(v4.z, v4.w))
}

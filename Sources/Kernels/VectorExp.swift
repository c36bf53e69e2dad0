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
    var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_6e-2
    p = p * r + 1.666_666_5e-1
    p = p * r + 5.000_000_1e-1
    let r2 = r * r
    var y = r + 1
    y.addProduct(p, r2)
    let exponent = (unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    return y * unsafeBitCast(exponent, to: SIMD16<Float>.self)
}

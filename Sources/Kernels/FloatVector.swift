import CKernelISA

/// A vector of `lanes` floats: the one type the generic kernels (the product's micro-kernel,
/// exp, activations, softmax) are written over, instantiated as `SIMD16<Float>` (one zmm),
/// `SIMD8<Float>` (one ymm) or `SIMD4<Float>` (one xmm or NEON q register) per `KernelPath`.
///
/// Each operation is implemented in an extension of the concrete type, where the standard
/// library's concrete SIMD operations apply; the same code written over the `SIMD` protocol
/// compiles lane by lane through memory (PERF-NOTES). Arithmetic operators come from the
/// concrete types as they are.
protocol FloatVector: Sendable {
    static var lanes: Int { get }
    init(broadcast value: Float)
    static func load(_ base: UnsafeRawPointer, byteOffset: Int) -> Self
    func store(_ base: UnsafeMutableRawPointer, byteOffset: Int)

    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    static func / (a: Self, b: Self) -> Self
    static prefix func - (a: Self) -> Self

    /// self += x · b, one FMA per register where the build has FMA.
    mutating func accumulate(_ x: Float, times b: Self)
    /// self += a · b.
    mutating func accumulate(_ a: Self, times b: Self)
    /// min(max(self, low), high), lane by lane: compares and blends. (The standard library's
    /// `pointwiseMin`/`pointwiseMax` stayed out-of-line calls for `SIMD8`.)
    func clamped(low: Float, high: Float) -> Self
    /// The larger of self and other in each lane (one compare, one blend).
    func lanewiseMax(_ other: Self) -> Self
    /// Lanes from `count` on set to zero: an AND with all-ones lanes below `count` (the sign
    /// bit of index − count, spread by an arithmetic shift), three vector instructions.
    /// `replacing(with: 0, where:)` compiled to a loop over the lanes: 40 % of the softmax's
    /// time at V = 65.
    func keepingFirst(_ count: Int) -> Self
    /// √ of each lane (one square-root instruction per register).
    var squareRoot: Self { get }
    /// Σ of the lanes, by halving.
    var laneSum: Float { get }
    /// max of the lanes, by halving.
    var laneMax: Float { get }
    /// 2^n for n held in the low mantissa bits of t = n + 1.5·2²³ (see `vectorExp`).
    static func powerOfTwo(shifted t: Self) -> Self
}

extension FloatVector {
    @inline(__always) static var zero: Self { Self(broadcast: 0) }

    /// The first `count` (< lanes) floats at `base`; the other lanes hold `filler`.
    @inline(__always)
    static func load(_ base: UnsafeRawPointer, count: Int, filler: Float) -> Self {
        var v = Self(broadcast: filler)
        withUnsafeMutableBytes(of: &v) { $0.baseAddress!.copyMemory(from: base, byteCount: count * 4) }
        return v
    }

    /// Stores the first `count` (< lanes) lanes at `base`.
    @inline(__always)
    func store(_ base: UnsafeMutableRawPointer, count: Int) {
        withUnsafeBytes(of: self) { base.copyMemory(from: $0.baseAddress!, byteCount: count * 4) }
    }
}

/// Whole-register moves, the same for every width.
extension FloatVector where Self: SIMD, Scalar == Float {
    @inline(__always) init(broadcast value: Float) { self.init(repeating: value) }
    @inline(__always) static func load(_ base: UnsafeRawPointer, byteOffset: Int) -> Self {
        base.loadUnaligned(fromByteOffset: byteOffset, as: Self.self)
    }
    @inline(__always) func store(_ base: UnsafeMutableRawPointer, byteOffset: Int) {
        base.storeBytes(of: self, toByteOffset: byteOffset, as: Self.self)
    }
}

extension SIMD16<Float>: FloatVector {
    static let laneIndex = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    @inline(__always) static var lanes: Int { 16 }
    @inline(__always) mutating func accumulate(_ x: Float, times b: Self) {
        if CPUFeatures.builtWithFMA { addProduct(x, b) } else { self += x * b }
    }
    @inline(__always) mutating func accumulate(_ a: Self, times b: Self) {
        if CPUFeatures.builtWithFMA { addProduct(a, b) } else { self += a * b }
    }
    @inline(__always) func clamped(low: Float, high: Float) -> Self {
        let (low, high) = (Self(repeating: low), Self(repeating: high))
        let raised = replacing(with: low, where: self .< low)
        return raised.replacing(with: high, where: raised .> high)
    }
    @inline(__always) func lanewiseMax(_ other: Self) -> Self { replacing(with: other, where: self .< other) }
    @inline(__always) func keepingFirst(_ count: Int) -> Self {
        let keep = (Self.laneIndex &- Int32(truncatingIfNeeded: count)) &>> 31
        return unsafeBitCast(unsafeBitCast(self, to: SIMD16<Int32>.self) & keep, to: Self.self)
    }
    @inline(__always) var squareRoot: Self { ckernelisa_sqrt16(self) }
    @inline(__always) var laneSum: Float { (lowHalf + highHalf).laneSum }
    @inline(__always) var laneMax: Float { lowHalf.lanewiseMax(highHalf).laneMax }
    @inline(__always) static func powerOfTwo(shifted t: Self) -> Self {
        unsafeBitCast((unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23, to: Self.self)
    }
}

extension SIMD8<Float>: FloatVector {
    static let laneIndex = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
    @inline(__always) static var lanes: Int { 8 }
    @inline(__always) mutating func accumulate(_ x: Float, times b: Self) {
        if CPUFeatures.builtWithFMA { addProduct(x, b) } else { self += x * b }
    }
    @inline(__always) mutating func accumulate(_ a: Self, times b: Self) {
        if CPUFeatures.builtWithFMA { addProduct(a, b) } else { self += a * b }
    }
    @inline(__always) func clamped(low: Float, high: Float) -> Self {
        let (low, high) = (Self(repeating: low), Self(repeating: high))
        let raised = replacing(with: low, where: self .< low)
        return raised.replacing(with: high, where: raised .> high)
    }
    @inline(__always) func lanewiseMax(_ other: Self) -> Self { replacing(with: other, where: self .< other) }
    @inline(__always) func keepingFirst(_ count: Int) -> Self {
        let keep = (Self.laneIndex &- Int32(truncatingIfNeeded: count)) &>> 31
        return unsafeBitCast(unsafeBitCast(self, to: SIMD8<Int32>.self) & keep, to: Self.self)
    }
    @inline(__always) var squareRoot: Self { ckernelisa_sqrt8(self) }
    @inline(__always) var laneSum: Float { (lowHalf + highHalf).laneSum }
    @inline(__always) var laneMax: Float { lowHalf.lanewiseMax(highHalf).laneMax }
    @inline(__always) static func powerOfTwo(shifted t: Self) -> Self {
        unsafeBitCast((unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23, to: Self.self)
    }
}

extension SIMD4<Float>: FloatVector {
    static let laneIndex = SIMD4<Int32>(0, 1, 2, 3)
    @inline(__always) static var lanes: Int { 4 }
    @inline(__always) mutating func accumulate(_ x: Float, times b: Self) {
        if CPUFeatures.builtWithFMA { addProduct(x, b) } else { self += x * b }
    }
    @inline(__always) mutating func accumulate(_ a: Self, times b: Self) {
        if CPUFeatures.builtWithFMA { addProduct(a, b) } else { self += a * b }
    }
    @inline(__always) func clamped(low: Float, high: Float) -> Self {
        let (low, high) = (Self(repeating: low), Self(repeating: high))
        let raised = replacing(with: low, where: self .< low)
        return raised.replacing(with: high, where: raised .> high)
    }
    @inline(__always) func lanewiseMax(_ other: Self) -> Self { replacing(with: other, where: self .< other) }
    @inline(__always) func keepingFirst(_ count: Int) -> Self {
        let keep = (Self.laneIndex &- Int32(truncatingIfNeeded: count)) &>> 31
        return unsafeBitCast(unsafeBitCast(self, to: SIMD4<Int32>.self) & keep, to: Self.self)
    }
    @inline(__always) var squareRoot: Self { ckernelisa_sqrt4(self) }
    @inline(__always) var laneSum: Float {
        let v2 = lowHalf + highHalf
        return v2.x + v2.y
    }
    @inline(__always) var laneMax: Float {
        let v2 = lowHalf.replacing(with: highHalf, where: lowHalf .< highHalf)
        return Swift.max(v2.x, v2.y)
    }
    @inline(__always) static func powerOfTwo(shifted t: Self) -> Self {
        unsafeBitCast((unsafeBitCast(t, to: SIMD4<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23, to: Self.self)
    }
}

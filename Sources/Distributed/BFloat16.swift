/// bfloat16, the wire format of `train.allreduce_dtype = "bfloat16"`: the upper 16 bits of a
/// float32 (sign, the whole 8-bit exponent, 7 of the 23 mantissa bits). It keeps float32's
/// range, so gradients need no loss scaling, and halves the bytes of an allreduce; each value
/// keeps 8 significant bits (a relative error of at most 2⁻⁹ per rounding).
public enum BFloat16 {
    /// The nearest bfloat16 to `x`, ties to even (IEEE's default rounding). A NaN stays a
    /// (quiet) NaN; a value past the largest bfloat16 becomes ±infinity, as in float32.
    ///
    /// Adding 0x7FFF plus the lowest kept bit to the float's bits and truncating rounds to
    /// nearest even: below half a unit the carry stops short of bit 16, above it carries in,
    /// and at exactly half it carries only when the kept part is odd.
    @inlinable
    public static func bits(rounding x: Float) -> UInt16 {
        let bits = x.bitPattern
        guard !x.isNaN else { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// The float32 a bfloat16 stands for (exact).
    @inlinable
    public static func float(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// `target[i]` = bits(rounding: source[i]).
    @inlinable
    public static func round(_ source: UnsafeBufferPointer<Float>, into target: UnsafeMutableBufferPointer<UInt16>) {
        precondition(target.count >= source.count, "bfloat16 target too small")
        for i in source.indices { target[i] = bits(rounding: source[i]) }
    }

    /// `target[i]` = float(source[i]).
    @inlinable
    public static func widen(_ source: UnsafeBufferPointer<UInt16>, into target: UnsafeMutableBufferPointer<Float>) {
        precondition(target.count >= source.count, "float target too small")
        for i in source.indices { target[i] = float(source[i]) }
    }

    /// The reduction an allreduce applies to two partial sums: `sum[i]` = bits(rounding:
    /// float(input[i]) + float(sum[i])), the sum taken in float32. Addition commutes exactly,
    /// so every rank that combines the same partial sums gets the same bits.
    @inlinable
    public static func accumulate(_ input: UnsafePointer<UInt16>, into sum: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { sum[i] = bits(rounding: float(input[i]) + float(sum[i])) }
    }
}

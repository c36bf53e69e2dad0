import RealModule

/// The nonlinearity f of the recurrent cell, h = f(z). Each derivative is written in terms of
/// the output h, so the backward pass needs only the hidden states it already keeps:
/// tanh' = 1 − h², sigmoid' = h(1 − h), relu' = [h > 0].
public enum Activation: String, Sendable, CaseIterable {
    case tanh, sigmoid, relu

    /// x[i] = f(x[i]) for i in 0..<count. Float runs 16 lanes at a time through `vectorExp`.
    @inlinable
    public func apply<S: KernelScalar>(_ x: UnsafeMutablePointer<S>, count: Int) {
        apply(UnsafePointer(x), into: x, count: count)
    }

    /// y[i] = f(x[i]) for i in 0..<count (x and y may be the same buffer).
    @inlinable
    public func apply<S: KernelScalar>(_ x: UnsafePointer<S>, into y: UnsafeMutablePointer<S>, count: Int) {
        var i = 0
        if S.self == Float.self, self != .relu {
            let (source, target) = (UnsafeRawPointer(x), UnsafeMutableRawPointer(y))
            while i + 16 <= count {
                let v = source.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                let result: SIMD16<Float>
                if self == .tanh {
                    // tanh v = 1 − 2 / (e^{2v} + 1): exact at ±∞, absolute error ~1e-7 near 0.
                    result = 1 - 2 / (vectorExp(v + v) + 1)
                } else {
                    result = 1 / (1 + vectorExp(-v))
                }
                target.storeBytes(of: result, toByteOffset: i * 4, as: SIMD16<Float>.self)
                i += 16
            }
        }
        while i < count {
            y[i] = value(x[i])
            i += 1
        }
    }

    /// f(x), one element: the reference the vector path is tested against.
    @inlinable
    public func value<S: KernelScalar>(_ x: S) -> S {
        switch self {
        case .tanh: return S.tanh(x)
        case .sigmoid: return 1 / (1 + S.exp(-x))
        case .relu: return max(x, 0)
        }
    }

    /// dz[i] = g[i] · f'(z[i]), with f' expressed through the output h[i] = f(z[i]).
    @inlinable
    public func backward<S: KernelScalar>(output h: UnsafePointer<S>, gradient g: UnsafePointer<S>,
                                          into dz: UnsafeMutablePointer<S>, count: Int) {
        switch self {
        case .tanh: for i in 0..<count { dz[i] = g[i] * (1 - h[i] * h[i]) }
        case .sigmoid: for i in 0..<count { dz[i] = g[i] * h[i] * (1 - h[i]) }
        case .relu: for i in 0..<count { dz[i] = h[i] > 0 ? g[i] : 0 }
        }
    }
}

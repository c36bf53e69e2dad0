import Kernels
import RealModule

/// The nonlinearity f of the recurrent cell, h = f(z). Each derivative is written in terms of
/// the output h, so the backward pass needs only the hidden states it already keeps:
/// tanh' = 1 − h², sigmoid' = h(1 − h), relu' = [h > 0]. The loops are Kernels' (`applyTanh`,
/// `tanhBackward`, …): vector code at the width of the chosen `KernelPath`.
public enum Activation: String, Sendable, CaseIterable {
    case tanh, sigmoid, relu

    /// x[i] = f(x[i]) for i in 0..<count.
    @inlinable
    public func apply<S: KernelScalar>(_ x: UnsafeMutablePointer<S>, count: Int) {
        apply(UnsafePointer(x), into: x, count: count)
    }

    /// y[i] = f(x[i]) for i in 0..<count (x and y may be the same buffer).
    @inlinable
    public func apply<S: KernelScalar>(_ x: UnsafePointer<S>, into y: UnsafeMutablePointer<S>, count: Int) {
        switch self {
        case .tanh: applyTanh(x, into: y, count: count)
        case .sigmoid: applySigmoid(x, into: y, count: count)
        case .relu: applyReLU(x, into: y, count: count)
        }
    }

    /// f(x), one element: the definition.
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
        case .tanh: tanhBackward(output: h, gradient: g, into: dz, count: count)
        case .sigmoid: sigmoidBackward(output: h, gradient: g, into: dz, count: count)
        case .relu: reluBackward(output: h, gradient: g, into: dz, count: count)
        }
    }
}

import Kernels

/// How gradients are bounded after the allreduce, before the optimizer.
public enum GradientClipping: Sendable, Equatable {
    case none
    /// Every component clamped to [−limit, limit] (`train.clip_value`, ±5 by default).
    case value(Double)
    /// The whole gradient scaled by maxNorm/‖g‖ when ‖g‖ exceeds maxNorm.
    case globalNorm(Double)

    /// Clips `gradients[0..<count]` in place and returns the global L2 norm *before* clipping.
    @inlinable
    @discardableResult
    public func apply<S: KernelScalar>(_ gradients: UnsafeMutablePointer<S>, count: Int) -> Double {
        let norm = sumOfSquares(gradients, count: count).squareRoot()
        switch self {
        case .none: break
        case .value(let limit): clamp(gradients, count: count, limit: S(limit))
        case .globalNorm(let maxNorm):
            if norm > maxNorm { scale(gradients, count: count, by: S(maxNorm / norm)) }
        }
        return norm
    }
}

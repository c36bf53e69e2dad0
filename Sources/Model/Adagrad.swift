import Kernels

/// Adagrad (Duchi et al. 2011), as in the seeds: per parameter,
///
///     m += g²,   p −= lr · g / √(m + eps)
///
/// over the flat buffers, so one loop updates every tensor. `memory` has the parameters' layout.
public struct Adagrad<S: KernelScalar>: Sendable {
    public var learningRate: S
    public var epsilon: S
    public let memory: FlatBuffer<S>

    public init(parameterCount: Int, learningRate: S, epsilon: S) {
        self.learningRate = learningRate
        self.epsilon = epsilon
        memory = FlatBuffer(count: parameterCount)
    }

    @inlinable
    public func update(_ parameters: FlatBuffer<S>, gradients: FlatBuffer<S>) {
        precondition(parameters.count == memory.count && gradients.count >= memory.count)
        let (p, g, m) = (parameters.base, gradients.base, memory.base)
        let (lr, eps) = (learningRate, epsilon)
        for i in 0..<memory.count {
            m[i] += g[i] * g[i]
            p[i] -= lr * g[i] / (m[i] + eps).squareRoot()
        }
    }
}

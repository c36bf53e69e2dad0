import Kernels
import RealModule

/// The update rules, each one loop over the flat parameter, gradient and state buffers.
public enum OptimizerKind: String, Sendable, CaseIterable {
    /// m += g²,  p −= lr·g/√(m + ε)   (Duchi et al. 2011; the default)
    case adagrad
    /// p −= lr·g
    case sgd
    /// v = μv + g,  p −= lr·v   (heavy ball, as PyTorch's SGD with momentum)
    case momentum
    /// m = β1·m + (1−β1)g,  v = β2·v + (1−β2)g²,  p −= lr·m̂/(√v̂ + ε) with m̂ = m/(1−β1ᵗ),
    /// v̂ = v/(1−β2ᵗ)   (Kingma & Ba 2015)
    case adam
    /// s = ρs + (1−ρ)g²,  p −= lr·g/(√s + ε)   (Tieleman & Hinton 2012)
    case rmsprop

    /// Buffers of the parameters' size the rule keeps between steps.
    public var stateSlots: Int {
        switch self {
        case .sgd: return 0
        case .adagrad, .momentum, .rmsprop: return 1
        case .adam: return 2
        }
    }
}

public struct OptimizerSettings: Sendable, Equatable {
    public var kind: OptimizerKind
    public var momentum: Double      // μ
    public var beta1: Double
    public var beta2: Double
    public var rho: Double           // RMSprop's decay
    public var epsilon: Double

    public init(kind: OptimizerKind = .adagrad, momentum: Double = 0.9, beta1: Double = 0.9, beta2: Double = 0.999,
                rho: Double = 0.99, epsilon: Double = 1e-8) {
        self.kind = kind
        self.momentum = momentum
        self.beta1 = beta1
        self.beta2 = beta2
        self.rho = rho
        self.epsilon = epsilon
    }
}

/// An optimizer over flat buffers: its state is `slots` buffers of the parameters' layout,
/// stored one after the other in `state` (what a checkpoint saves), plus the step count.
public final class Optimizer<S: KernelScalar>: @unchecked Sendable {
    public let settings: OptimizerSettings
    public let parameterCount: Int
    public let state: FlatBuffer<S>
    public var steps = 0

    public init(_ settings: OptimizerSettings, parameterCount: Int) {
        self.settings = settings
        self.parameterCount = parameterCount
        state = FlatBuffer(count: settings.kind.stateSlots * parameterCount)
    }

    /// One update of `parameters` with `gradients` (both the model's layout). Every scalar is
    /// updated on its own, so threads take disjoint ranges. A range is worth a thread from 4 K
    /// scalars when the pool's workers spin after a job (a hand-over then costs about a
    /// microsecond), from 128 K when they sleep. Model A (12.5 K parameters) with 2 thread
    /// replicas: 18–24 µs on one thread, 13–16 on two, each core writing its half of the
    /// parameters that both replicas' passes had just read.
    @inlinable
    public func update(_ parameters: FlatBuffer<S>, gradients: FlatBuffer<S>, learningRate: Double, threads: Int = 1) {
        precondition(parameters.count == parameterCount && gradients.count == parameterCount,
                     "parameters, gradients and optimizer must share one layout")
        steps += 1
        let n = parameterCount
        let (p, g, state) = (SendablePointer(parameters.base), SendablePointer(gradients.base), SendablePointer(state.base))
        let (kind, lr, eps) = (settings.kind, S(learningRate), S(settings.epsilon))
        let (mu, b1, b2, rho) = (S(settings.momentum), S(settings.beta1), S(settings.beta2), S(settings.rho))
        let correction1 = 1 - S(Double.pow(settings.beta1, Double(steps)))
        let correction2 = 1 - S(Double.pow(settings.beta2, Double(steps)))
        let perThread = workersSpinWhenIdle ? 1 << 12 : 1 << 17
        parallelFor(n, threads: usefulThreads(threads, work: n, perThread: perThread), grain: 4096) { range in
            let (p, g) = (p.base, g.base)
            switch kind {
            case .adagrad:
                adagradUpdate(p + range.lowerBound, gradients: g + range.lowerBound, squareSums: state.base + range.lowerBound,
                              count: range.count, learningRate: lr, epsilon: eps)
            case .sgd:
                for i in range { p[i] -= lr * g[i] }
            case .momentum:
                let v = state.base
                for i in range {
                    v[i] = mu * v[i] + g[i]
                    p[i] -= lr * v[i]
                }
            case .adam:
                let (m, v) = (state.base, state.base + n)
                for i in range {
                    m[i] = b1 * m[i] + (1 - b1) * g[i]
                    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                    p[i] -= lr * (m[i] / correction1) / ((v[i] / correction2).squareRoot() + eps)
                }
            case .rmsprop:
                let s = state.base
                for i in range {
                    s[i] = rho * s[i] + (1 - rho) * g[i] * g[i]
                    p[i] -= lr * g[i] / (s[i].squareRoot() + eps)
                }
            }
        }
    }
}

/// How the learning rate changes over a run (`train.lr_schedule`).
public enum LearningRateSchedule: Sendable, Equatable {
    case constant
    /// lr = base · factor^⌊step / every⌋
    case stepDecay(factor: Double, every: Int)
    /// Halve the rate whenever the evaluated (validation) loss went up.
    case halveOnPlateau

    /// The rate for the step after `step` optimizer steps, for the schedules that depend on the
    /// step alone; `current` for the others.
    public func rate(base: Double, step: Int, current: Double) -> Double {
        switch self {
        case .constant: return base
        case .stepDecay(let factor, let every): return base * Double.pow(factor, Double(step / every))
        case .halveOnPlateau: return current
        }
    }

    /// The rate after a validation loss `latest` following `previous`.
    public func afterValidation(current: Double, previous: Double?, latest: Double) -> Double {
        guard case .halveOnPlateau = self, let previous, latest > previous else { return current }
        return current / 2
    }
}

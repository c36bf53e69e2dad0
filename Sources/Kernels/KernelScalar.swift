import RealModule

/// The scalars the math runs in: `Float` to train, `Double` for finite-difference gradient
/// checks. `Real` (swift-numerics) gives `exp`, `log` and `tanh` generically, so one
/// `@inlinable` body serves both and is specialised for `Float` in the trainer.
public protocol KernelScalar: Real, BinaryFloatingPoint, SIMDScalar, Sendable {}

extension Float: KernelScalar {}
extension Double: KernelScalar {}

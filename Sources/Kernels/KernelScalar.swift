import RealModule

/// The scalars the math runs in: `Float` to train, `Double` for finite-difference gradient
/// checks. `Real` (swift-numerics) gives `exp`, `log` and `tanh` generically, so one
/// `@inlinable` body serves both and is specialised for `Float` in the trainer. (`Codable` is
/// implied by `SIMDScalar`'s vector types; the compiler asks for it to be stated.)
public protocol KernelScalar: Real, BinaryFloatingPoint, SIMDScalar, Codable, Sendable {}

extension Float: KernelScalar {}
extension Double: KernelScalar {}

/// Adagrad's update over flat buffers (Duchi et al. 2011): m += g², p −= lr·g / √(m + ε).
///
/// The plain loop stayed scalar once specialised for Float (a square root and a division per
/// parameter, one at a time: 50 µs of model A's 1.4 ms step, and on one thread while the other
/// replicas wait). `Float` runs whole vectors of `path`'s width; each lane does the scalar
/// loop's operations in its order (no fused multiply-add), so the result is the same, bit for
/// bit, as the scalar loop's, which runs the tail and every other scalar.
@inlinable
public func adagradUpdate<S: KernelScalar>(_ parameters: UnsafeMutablePointer<S>, gradients: UnsafePointer<S>,
                                           squareSums: UnsafeMutablePointer<S>, count: Int,
                                           learningRate: S, epsilon: S, path: KernelPath = .current) {
    var done = 0
    if S.self == Float.self {
        done = floatAdagrad(parameters: UnsafeMutableRawPointer(parameters), gradients: UnsafeRawPointer(gradients),
                            squareSums: UnsafeMutableRawPointer(squareSums), count: count,
                            learningRate: Float(learningRate), epsilon: Float(epsilon), path: path)
    }
    for i in done..<count {
        squareSums[i] += gradients[i] * gradients[i]
        parameters[i] -= learningRate * gradients[i] / (squareSums[i] + epsilon).squareRoot()
    }
}

/// The whole vectors of `adagradUpdate` for Float; returns how many floats it updated.
@usableFromInline
func floatAdagrad(parameters: UnsafeMutableRawPointer, gradients: UnsafeRawPointer, squareSums: UnsafeMutableRawPointer,
                  count: Int, learningRate: Float, epsilon: Float, path: KernelPath) -> Int {
    @inline(__always)
    func run<V: FloatVector>(_: V.Type) -> Int {
        let (lr, eps) = (V(broadcast: learningRate), V(broadcast: epsilon))
        var i = 0
        while i + V.lanes <= count {
            let g = V.load(gradients, byteOffset: i * 4)
            let m = V.load(squareSums, byteOffset: i * 4) + g * g
            m.store(squareSums, byteOffset: i * 4)
            (V.load(parameters, byteOffset: i * 4) - lr * g / (m + eps).squareRoot).store(parameters, byteOffset: i * 4)
            i += V.lanes
        }
        return i
    }
    switch path {
    case .avx512: return run(SIMD16<Float>.self)
    case .avx2: return run(SIMD8<Float>.self)
    case .neon, .generic: return run(SIMD4<Float>.self)
    }
}

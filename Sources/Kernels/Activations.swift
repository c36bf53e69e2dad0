import RealModule

/// The recurrent cells' nonlinearities over flat buffers: y[i] = f(x[i]) for i in 0..<count (x
/// and y may be the same buffer), and the backward dz[i] = g[i] · f'(z[i]) written through the
/// output h = f(z), so the backward pass needs only the states it keeps: tanh' = 1 − h²,
/// sigmoid' = h(1 − h), relu' = [h > 0]. `Float` runs tanh and sigmoid through `vectorExp` at
/// the vector width of `path`; other scalars (the Float64 gradient checks) run the scalar
/// definitions, which are also the reference the vector code is tested against.

/// y = tanh x. For Float, tanh v = 1 − 2 / (e^{2v} + 1): exact at ±∞, absolute error ~1e-7 near 0.
@inlinable
public func applyTanh<S: KernelScalar>(_ x: UnsafePointer<S>, into y: UnsafeMutablePointer<S>, count: Int,
                                       path: KernelPath = .current) {
    if S.self == Float.self {
        floatTanh(UnsafeRawPointer(x).assumingMemoryBound(to: Float.self),
                  into: UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self), count: count, path: path)
    } else {
        for i in 0..<count { y[i] = S.tanh(x[i]) }
    }
}

/// y = σ(x) = 1 / (1 + e^{−x}).
@inlinable
public func applySigmoid<S: KernelScalar>(_ x: UnsafePointer<S>, into y: UnsafeMutablePointer<S>, count: Int,
                                          path: KernelPath = .current) {
    if S.self == Float.self {
        floatSigmoid(UnsafeRawPointer(x).assumingMemoryBound(to: Float.self),
                     into: UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self), count: count, path: path)
    } else {
        for i in 0..<count { y[i] = 1 / (1 + S.exp(-x[i])) }
    }
}

/// y = max(x, 0): a plain loop the compiler vectorises at the build's width.
@inlinable
public func applyReLU<S: KernelScalar>(_ x: UnsafePointer<S>, into y: UnsafeMutablePointer<S>, count: Int) {
    for i in 0..<count { y[i] = max(x[i], 0) }
}

/// dz = g · (1 − h²).
@inlinable
public func tanhBackward<S: KernelScalar>(output h: UnsafePointer<S>, gradient g: UnsafePointer<S>,
                                          into dz: UnsafeMutablePointer<S>, count: Int) {
    for i in 0..<count { dz[i] = g[i] * (1 - h[i] * h[i]) }
}

/// dz = g · h · (1 − h).
@inlinable
public func sigmoidBackward<S: KernelScalar>(output h: UnsafePointer<S>, gradient g: UnsafePointer<S>,
                                             into dz: UnsafeMutablePointer<S>, count: Int) {
    for i in 0..<count { dz[i] = g[i] * h[i] * (1 - h[i]) }
}

/// dz = g · [h > 0].
@inlinable
public func reluBackward<S: KernelScalar>(output h: UnsafePointer<S>, gradient g: UnsafePointer<S>,
                                          into dz: UnsafeMutablePointer<S>, count: Int) {
    for i in 0..<count { dz[i] = h[i] > 0 ? g[i] : 0 }
}

@usableFromInline
func floatTanh(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, path: KernelPath) {
    switch path {
    case .avx512: mapVectors(SIMD16<Float>.self, Tanh.self, x, y, count)
    case .avx2: mapVectors(SIMD8<Float>.self, Tanh.self, x, y, count)
    case .neon, .generic: mapVectors(SIMD4<Float>.self, Tanh.self, x, y, count)
    }
}

@usableFromInline
func floatSigmoid(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, path: KernelPath) {
    switch path {
    case .avx512: mapVectors(SIMD16<Float>.self, Sigmoid.self, x, y, count)
    case .avx2: mapVectors(SIMD8<Float>.self, Sigmoid.self, x, y, count)
    case .neon, .generic: mapVectors(SIMD4<Float>.self, Sigmoid.self, x, y, count)
    }
}

@inline(__always)
func tanhOfVector<V: FloatVector>(_ v: V) -> V {
    let one = V(broadcast: 1)
    return one - V(broadcast: 2) / (vectorExp(v + v) + one)
}

@inline(__always)
func sigmoidOfVector<V: FloatVector>(_ v: V) -> V {
    let one = V(broadcast: 1)
    return one / (one + vectorExp(-v))
}

/// An elementwise function for `mapVectors`, as a type rather than a closure: passed as a
/// closure, the vector function of the AVX2 path (`SIMD8`) stayed an out-of-line call per
/// vector, its argument split into two xmm halves and a `vzeroupper` before each return.
/// Steps on 2 threads of the AVX2 build, inlined over that (Zen 4, 2026-12-07, ABBA pairs in
/// one process, two runs each): model A 1.021 and 1.021, B 1.007 and 1.008, C (whose LSTM runs
/// sigmoid and tanh over its gates) 1.016 and 1.015.
protocol ElementwiseFunction {
    static func vector<V: FloatVector>(_ v: V) -> V
    static func scalar(_ x: Float) -> Float
}

enum Tanh: ElementwiseFunction {
    @inline(__always) static func vector<V: FloatVector>(_ v: V) -> V { tanhOfVector(v) }
    static func scalar(_ x: Float) -> Float { .tanh(x) }
}

enum Sigmoid: ElementwiseFunction {
    @inline(__always) static func vector<V: FloatVector>(_ v: V) -> V { sigmoidOfVector(v) }
    static func scalar(_ x: Float) -> Float { 1 / (1 + .exp(-x)) }
}

/// y[i] = F(x[i]): whole vectors through `F.vector`, the tail of fewer than `V.lanes` through
/// the scalar definition.
@inline(__always)
func mapVectors<V: FloatVector, F: ElementwiseFunction>(_: V.Type, _: F.Type, _ x: UnsafePointer<Float>,
                                                         _ y: UnsafeMutablePointer<Float>, _ count: Int) {
    let (source, target) = (UnsafeRawPointer(x), UnsafeMutableRawPointer(y))
    var i = 0
    while i + V.lanes <= count {
        F.vector(V.load(source, byteOffset: i * 4)).store(target, byteOffset: i * 4)
        i += V.lanes
    }
    while i < count {
        y[i] = F.scalar(x[i])
        i += 1
    }
}

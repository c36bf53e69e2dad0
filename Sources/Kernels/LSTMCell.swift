import RealModule

/// The LSTM cell's elementwise work on one row of H units, once the matrix products are done.
/// The gates are already activated and laid out [i | f | g | o] (4H values):
///
///     forward   c_t = f ⊙ c_{t−1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)
///     backward  with τ = tanh(c_t) and dc = ∂loss/∂c_t + ∂loss/∂h_t ⊙ o ⊙ (1 − τ²):
///               ∂P_i = dc ⊙ g ⊙ i(1 − i),   ∂P_f = dc ⊙ c_{t−1} ⊙ f(1 − f),
///               ∂P_g = dc ⊙ i ⊙ (1 − g²),   ∂P_o = ∂loss/∂h_t ⊙ τ ⊙ o(1 − o),
///               ∂loss/∂c_{t−1} = dc ⊙ f
///
/// `Float` runs at the vector width of `path`. Written as loops over pointers, the compiler
/// kept these scalar — it cannot prove the outputs apart from the inputs — and the backward
/// loop alone was 9 % of model C's step (lstm H 256). Other scalars (the Float64 gradient
/// checks) run the same expressions one element at a time, the reference the vector code is
/// tested against. Both evaluate every expression in the same order with the same tanh as
/// `applyTanh`, so the vector path gives the scalar loop's bits.

/// Forward: writes c_t into `c` and h_t into `h`.
@inlinable
public func lstmForward<S: KernelScalar>(gates: UnsafePointer<S>, cPrevious: UnsafePointer<S>,
                                         c: UnsafeMutablePointer<S>, h: UnsafeMutablePointer<S>, hidden H: Int,
                                         path: KernelPath = .current) {
    if S.self == Float.self {
        floatLSTMForward(asFloats(gates), asFloats(cPrevious), asFloats(c), asFloats(h), H, path)
    } else {
        for j in 0..<H { c[j] = gates[H + j] * cPrevious[j] + gates[j] * gates[2 * H + j] }
        for j in 0..<H { h[j] = S.tanh(c[j]) * gates[3 * H + j] }
    }
}

/// Backward: writes ∂loss/∂(gate pre-activations) into `dGates` ([i | f | g | o], 4H) and
/// replaces `dc` (∂loss/∂c_t on entry) by ∂loss/∂c_{t−1}.
@inlinable
public func lstmBackward<S: KernelScalar>(gates: UnsafePointer<S>, cPrevious: UnsafePointer<S>, c: UnsafePointer<S>,
                                          dh: UnsafePointer<S>, dc: UnsafeMutablePointer<S>,
                                          dGates: UnsafeMutablePointer<S>, hidden H: Int, path: KernelPath = .current) {
    if S.self == Float.self {
        floatLSTMBackward(asFloats(gates), asFloats(cPrevious), asFloats(c), asFloats(dh), asFloats(dc), asFloats(dGates),
                          H, path)
    } else {
        for j in 0..<H {
            let (i, f, g, o) = (gates[j], gates[H + j], gates[2 * H + j], gates[3 * H + j])
            let tc = S.tanh(c[j])
            let dcTotal = dc[j] + dh[j] * o * (1 - tc * tc)
            dGates[j] = dcTotal * g * i * (1 - i)
            dGates[H + j] = dcTotal * cPrevious[j] * f * (1 - f)
            dGates[2 * H + j] = dcTotal * i * (1 - g * g)
            dGates[3 * H + j] = dh[j] * tc * o * (1 - o)
            dc[j] = dcTotal * f
        }
    }
}

/// A pointer of a generic scalar known to be `Float`, as one.
@usableFromInline @inline(__always)
func asFloats<S>(_ p: UnsafePointer<S>) -> UnsafePointer<Float> {
    UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
}

@usableFromInline @inline(__always)
func asFloats<S>(_ p: UnsafeMutablePointer<S>) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
}

@usableFromInline
func floatLSTMForward(_ gates: UnsafePointer<Float>, _ cPrevious: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                      _ h: UnsafeMutablePointer<Float>, _ H: Int, _ path: KernelPath) {
    switch path {
    case .avx512: lstmForwardVectors(SIMD16<Float>.self, gates, cPrevious, c, h, H)
    case .avx2: lstmForwardVectors(SIMD8<Float>.self, gates, cPrevious, c, h, H)
    case .neon, .generic: lstmForwardVectors(SIMD4<Float>.self, gates, cPrevious, c, h, H)
    }
}

@usableFromInline
func floatLSTMBackward(_ gates: UnsafePointer<Float>, _ cPrevious: UnsafePointer<Float>, _ c: UnsafePointer<Float>,
                       _ dh: UnsafePointer<Float>, _ dc: UnsafeMutablePointer<Float>, _ dGates: UnsafeMutablePointer<Float>,
                       _ H: Int, _ path: KernelPath) {
    switch path {
    case .avx512: lstmBackwardVectors(SIMD16<Float>.self, gates, cPrevious, c, dh, dc, dGates, H)
    case .avx2: lstmBackwardVectors(SIMD8<Float>.self, gates, cPrevious, c, dh, dc, dGates, H)
    case .neon, .generic: lstmBackwardVectors(SIMD4<Float>.self, gates, cPrevious, c, dh, dc, dGates, H)
    }
}

/// One lane-group of units at a time, then the last H mod lanes one by one (`mapVectors`'s
/// split, so τ is the same tanh `applyTanh` gives).
@inline(__always)
func lstmForwardVectors<V: FloatVector>(_: V.Type, _ gates: UnsafePointer<Float>, _ cPrevious: UnsafePointer<Float>,
                                        _ c: UnsafeMutablePointer<Float>, _ h: UnsafeMutablePointer<Float>, _ H: Int) {
    let (g, cp, cOut, hOut) = (UnsafeRawPointer(gates), UnsafeRawPointer(cPrevious), UnsafeMutableRawPointer(c),
                               UnsafeMutableRawPointer(h))
    let gate = H * 4   // bytes from one gate's block to the next
    var j = 0
    while j + V.lanes <= H {
        let at = j * 4
        let (i, f, gg, o) = (V.load(g, byteOffset: at), V.load(g, byteOffset: at + gate),
                             V.load(g, byteOffset: at + 2 * gate), V.load(g, byteOffset: at + 3 * gate))
        let cell = f * V.load(cp, byteOffset: at) + i * gg
        cell.store(cOut, byteOffset: at)
        (tanhOfVector(cell) * o).store(hOut, byteOffset: at)
        j += V.lanes
    }
    while j < H {
        c[j] = gates[H + j] * cPrevious[j] + gates[j] * gates[2 * H + j]
        h[j] = Float.tanh(c[j]) * gates[3 * H + j]
        j += 1
    }
}

@inline(__always)
func lstmBackwardVectors<V: FloatVector>(_: V.Type, _ gates: UnsafePointer<Float>, _ cPrevious: UnsafePointer<Float>,
                                         _ c: UnsafePointer<Float>, _ dh: UnsafePointer<Float>,
                                         _ dc: UnsafeMutablePointer<Float>, _ dGates: UnsafeMutablePointer<Float>, _ H: Int) {
    let (g, cp, cIn, dhIn) = (UnsafeRawPointer(gates), UnsafeRawPointer(cPrevious), UnsafeRawPointer(c), UnsafeRawPointer(dh))
    let (dcIO, d) = (UnsafeMutableRawPointer(dc), UnsafeMutableRawPointer(dGates))
    let gate = H * 4
    let one = V(broadcast: 1)
    var j = 0
    while j + V.lanes <= H {
        let at = j * 4
        let (i, f, gg, o) = (V.load(g, byteOffset: at), V.load(g, byteOffset: at + gate),
                             V.load(g, byteOffset: at + 2 * gate), V.load(g, byteOffset: at + 3 * gate))
        let tc = tanhOfVector(V.load(cIn, byteOffset: at))
        let dhj = V.load(dhIn, byteOffset: at)
        let dcTotal = V.load(dcIO, byteOffset: at) + dhj * o * (one - tc * tc)
        (dcTotal * gg * i * (one - i)).store(d, byteOffset: at)
        (dcTotal * V.load(cp, byteOffset: at) * f * (one - f)).store(d, byteOffset: at + gate)
        (dcTotal * i * (one - gg * gg)).store(d, byteOffset: at + 2 * gate)
        (dhj * tc * o * (one - o)).store(d, byteOffset: at + 3 * gate)
        (dcTotal * f).store(dcIO, byteOffset: at)
        j += V.lanes
    }
    while j < H {
        let (i, f, gg, o) = (gates[j], gates[H + j], gates[2 * H + j], gates[3 * H + j])
        let tc = Float.tanh(c[j])
        let dcTotal = dc[j] + dh[j] * o * (1 - tc * tc)
        dGates[j] = dcTotal * gg * i * (1 - i)
        dGates[H + j] = dcTotal * cPrevious[j] * f * (1 - f)
        dGates[2 * H + j] = dcTotal * i * (1 - gg * gg)
        dGates[3 * H + j] = dh[j] * tc * o * (1 - o)
        dc[j] = dcTotal * f
        j += 1
    }
}

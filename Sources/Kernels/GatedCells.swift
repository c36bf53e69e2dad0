import RealModule

/// The gated cells' elementwise work on one row of H units, once the matrix products are done.
///
/// LSTM, gates activated and laid out [i | f | g | o] (4H values):
///
///     forward   c_t = f ⊙ c_{t−1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)
///     backward  with τ = tanh(c_t) and dc = ∂loss/∂c_t + ∂loss/∂h_t ⊙ o ⊙ (1 − τ²):
///               ∂P_i = dc ⊙ g ⊙ i(1 − i),   ∂P_f = dc ⊙ c_{t−1} ⊙ f(1 − f),
///               ∂P_g = dc ⊙ i ⊙ (1 − g²),   ∂P_o = ∂loss/∂h_t ⊙ τ ⊙ o(1 − o),
///               ∂loss/∂c_{t−1} = dc ⊙ f
///
/// GRU, gates [r | z | n] (3H) from the input's products P and the recurrent ones R (b_hn in R_n):
///
///     forward   r = σ(P_r + R_r),  z = σ(P_z + R_z),  n = tanh(P_n + r ⊙ R_n),
///               h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
///     backward  dn = dh ⊙ (1 − z) ⊙ (1 − n²),  dz = dh ⊙ (h_{t−1} − n) ⊙ z(1 − z),
///               dr = dn ⊙ R_n ⊙ r(1 − r);   ∂P = [dr | dz | dn],  ∂R = [dr | dz | dn ⊙ r],
///               and the part of ∂loss/∂h_{t−1} that bypasses Wh: dh ⊙ z
///
/// `Float` runs at the vector width of `path`. Written as loops over pointers, the compiler
/// kept these scalar — it cannot prove the outputs apart from the inputs — and the LSTM's
/// backward loop alone was 9 % of model C's step (lstm H 256), the GRU's 11 % of a gru H 256
/// step. Other scalars (the Float64 gradient checks) run the scalar definitions below, which
/// the vector code's last H mod lanes units share. Every expression is evaluated in the same
/// order, with the same tanh and σ as `applyTanh` and `applySigmoid`, so the vector path
/// gives the bits of the scalar loops it replaced.

/// LSTM forward: writes c_t into `c` and h_t into `h`.
@inlinable
public func lstmForward<S: KernelScalar>(gates: UnsafePointer<S>, cPrevious: UnsafePointer<S>,
                                         c: UnsafeMutablePointer<S>, h: UnsafeMutablePointer<S>, hidden H: Int,
                                         path: KernelPath = .current) {
    if S.self == Float.self {
        floatLSTMForward(asFloats(gates), asFloats(cPrevious), asFloats(c), asFloats(h), H, path)
    } else {
        lstmForwardUnits(0..<H, gates, cPrevious, c, h, H)
    }
}

/// LSTM backward: writes ∂loss/∂(gate pre-activations) into `dGates` ([i | f | g | o], 4H)
/// and replaces `dc` (∂loss/∂c_t on entry) by ∂loss/∂c_{t−1}. `dGates` may be `gates`: each
/// unit's four gates are read before its four gradients are written.
@inlinable
public func lstmBackward<S: KernelScalar>(gates: UnsafePointer<S>, cPrevious: UnsafePointer<S>, c: UnsafePointer<S>,
                                          dh: UnsafePointer<S>, dc: UnsafeMutablePointer<S>,
                                          dGates: UnsafeMutablePointer<S>, hidden H: Int, path: KernelPath = .current) {
    if S.self == Float.self {
        floatLSTMBackward(asFloats(gates), asFloats(cPrevious), asFloats(c), asFloats(dh), asFloats(dc), asFloats(dGates),
                          H, path)
    } else {
        lstmBackwardUnits(0..<H, gates, cPrevious, c, dh, dc, dGates, H)
    }
}

/// GRU forward: on entry `gates` holds P (3H) and `recurrent` R; on exit `gates` holds the
/// activated [r | z | n] (the cache the backward pass reads) and `h` the new state.
@inlinable
public func gruForward<S: KernelScalar>(gates: UnsafeMutablePointer<S>, recurrent: UnsafePointer<S>,
                                        hPrevious: UnsafePointer<S>, h: UnsafeMutablePointer<S>, hidden H: Int,
                                        path: KernelPath = .current) {
    if S.self == Float.self {
        floatGRUForward(asFloats(gates), asFloats(recurrent), asFloats(hPrevious), asFloats(h), H, path)
    } else {
        for j in 0..<(2 * H) { gates[j] += recurrent[j] }
        applySigmoid(gates, into: gates, count: 2 * H)
        for j in 0..<H { gates[2 * H + j] += gates[j] * recurrent[2 * H + j] }
        applyTanh(gates + 2 * H, into: gates + 2 * H, count: H)
        for j in 0..<H { h[j] = (1 - gates[H + j]) * gates[2 * H + j] + gates[H + j] * hPrevious[j] }
    }
}

/// GRU backward: writes ∂P into `dP`, ∂R into `dR` (3H each) and dh ⊙ z into `dhDirect`.
/// `dP` may be `gates` and `dR` `recurrent`: each unit's gates and R_n are read before its
/// gradients are written.
@inlinable
public func gruBackward<S: KernelScalar>(gates: UnsafePointer<S>, recurrent: UnsafePointer<S>, hPrevious: UnsafePointer<S>,
                                         dh: UnsafePointer<S>, dP: UnsafeMutablePointer<S>, dR: UnsafeMutablePointer<S>,
                                         dhDirect: UnsafeMutablePointer<S>, hidden H: Int, path: KernelPath = .current) {
    if S.self == Float.self {
        floatGRUBackward(asFloats(gates), asFloats(recurrent), asFloats(hPrevious), asFloats(dh), asFloats(dP), asFloats(dR),
                         asFloats(dhDirect), H, path)
    } else {
        gruBackwardUnits(0..<H, gates, recurrent, hPrevious, dh, dP, dR, dhDirect, H)
    }
}

// MARK: - The scalar definitions (Float64, and the Float paths' last units)

@usableFromInline @inline(__always)
func lstmForwardUnits<S: KernelScalar>(_ units: Range<Int>, _ gates: UnsafePointer<S>, _ cPrevious: UnsafePointer<S>,
                                       _ c: UnsafeMutablePointer<S>, _ h: UnsafeMutablePointer<S>, _ H: Int) {
    for j in units {
        c[j] = gates[H + j] * cPrevious[j] + gates[j] * gates[2 * H + j]
        h[j] = S.tanh(c[j]) * gates[3 * H + j]
    }
}

@usableFromInline @inline(__always)
func lstmBackwardUnits<S: KernelScalar>(_ units: Range<Int>, _ gates: UnsafePointer<S>, _ cPrevious: UnsafePointer<S>,
                                        _ c: UnsafePointer<S>, _ dh: UnsafePointer<S>, _ dc: UnsafeMutablePointer<S>,
                                        _ dGates: UnsafeMutablePointer<S>, _ H: Int) {
    for j in units {
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

@usableFromInline @inline(__always)
func gruBackwardUnits<S: KernelScalar>(_ units: Range<Int>, _ gates: UnsafePointer<S>, _ recurrent: UnsafePointer<S>,
                                       _ hPrevious: UnsafePointer<S>, _ dh: UnsafePointer<S>, _ dP: UnsafeMutablePointer<S>,
                                       _ dR: UnsafeMutablePointer<S>, _ dhDirect: UnsafeMutablePointer<S>, _ H: Int) {
    for j in units {
        let (r, z, n) = (gates[j], gates[H + j], gates[2 * H + j])
        let dn = dh[j] * (1 - z) * (1 - n * n)
        let dz = dh[j] * (hPrevious[j] - n) * z * (1 - z)
        let dr = dn * recurrent[2 * H + j] * r * (1 - r)
        dP[j] = dr; dP[H + j] = dz; dP[2 * H + j] = dn
        dR[j] = dr; dR[H + j] = dz; dR[2 * H + j] = dn * r
        dhDirect[j] = dh[j] * z
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

// MARK: - Float at the path's width

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

@usableFromInline
func floatGRUForward(_ gates: UnsafeMutablePointer<Float>, _ recurrent: UnsafePointer<Float>,
                     _ hPrevious: UnsafePointer<Float>, _ h: UnsafeMutablePointer<Float>, _ H: Int, _ path: KernelPath) {
    switch path {
    case .avx512: gruForwardVectors(SIMD16<Float>.self, gates, recurrent, hPrevious, h, H, path)
    case .avx2: gruForwardVectors(SIMD8<Float>.self, gates, recurrent, hPrevious, h, H, path)
    case .neon, .generic: gruForwardVectors(SIMD4<Float>.self, gates, recurrent, hPrevious, h, H, path)
    }
}

@usableFromInline
func floatGRUBackward(_ gates: UnsafePointer<Float>, _ recurrent: UnsafePointer<Float>, _ hPrevious: UnsafePointer<Float>,
                      _ dh: UnsafePointer<Float>, _ dP: UnsafeMutablePointer<Float>, _ dR: UnsafeMutablePointer<Float>,
                      _ dhDirect: UnsafeMutablePointer<Float>, _ H: Int, _ path: KernelPath) {
    switch path {
    case .avx512: gruBackwardVectors(SIMD16<Float>.self, gates, recurrent, hPrevious, dh, dP, dR, dhDirect, H)
    case .avx2: gruBackwardVectors(SIMD8<Float>.self, gates, recurrent, hPrevious, dh, dP, dR, dhDirect, H)
    case .neon, .generic: gruBackwardVectors(SIMD4<Float>.self, gates, recurrent, hPrevious, dh, dP, dR, dhDirect, H)
    }
}

/// Lane groups of units, then the last H mod lanes through the scalar definition
/// (`mapVectors`'s split, so τ is the tanh `applyTanh` gives).
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
    lstmForwardUnits(j..<H, gates, cPrevious, c, h, H)
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
    lstmBackwardUnits(j..<H, gates, cPrevious, c, dh, dc, dGates, H)
}

/// The σ and tanh run over the same spans as the scalar definition's `applySigmoid` (2H) and
/// `applyTanh` (H), so their vector/tail split — and so their bits — match it.
@inline(__always)
func gruForwardVectors<V: FloatVector>(_: V.Type, _ gates: UnsafeMutablePointer<Float>, _ recurrent: UnsafePointer<Float>,
                                       _ hPrevious: UnsafePointer<Float>, _ h: UnsafeMutablePointer<Float>, _ H: Int,
                                       _ path: KernelPath) {
    let (g, rec, hp, hOut) = (UnsafeMutableRawPointer(gates), UnsafeRawPointer(recurrent), UnsafeRawPointer(hPrevious),
                              UnsafeMutableRawPointer(h))
    let gate = H * 4
    var j = 0
    while j + V.lanes <= 2 * H {
        (V.load(g, byteOffset: j * 4) + V.load(rec, byteOffset: j * 4)).store(g, byteOffset: j * 4)
        j += V.lanes
    }
    while j < 2 * H { gates[j] += recurrent[j]; j += 1 }
    floatSigmoid(gates, into: gates, count: 2 * H, path: path)
    j = 0
    while j + V.lanes <= H {
        let at = j * 4
        let n = V.load(g, byteOffset: at + 2 * gate) + V.load(g, byteOffset: at) * V.load(rec, byteOffset: at + 2 * gate)
        n.store(g, byteOffset: at + 2 * gate)
        j += V.lanes
    }
    while j < H { gates[2 * H + j] += gates[j] * recurrent[2 * H + j]; j += 1 }
    floatTanh(gates + 2 * H, into: gates + 2 * H, count: H, path: path)
    let one = V(broadcast: 1)
    j = 0
    while j + V.lanes <= H {
        let at = j * 4
        let (z, n) = (V.load(g, byteOffset: at + gate), V.load(g, byteOffset: at + 2 * gate))
        ((one - z) * n + z * V.load(hp, byteOffset: at)).store(hOut, byteOffset: at)
        j += V.lanes
    }
    while j < H { h[j] = (1 - gates[H + j]) * gates[2 * H + j] + gates[H + j] * hPrevious[j]; j += 1 }
}

@inline(__always)
func gruBackwardVectors<V: FloatVector>(_: V.Type, _ gates: UnsafePointer<Float>, _ recurrent: UnsafePointer<Float>,
                                        _ hPrevious: UnsafePointer<Float>, _ dh: UnsafePointer<Float>,
                                        _ dP: UnsafeMutablePointer<Float>, _ dR: UnsafeMutablePointer<Float>,
                                        _ dhDirect: UnsafeMutablePointer<Float>, _ H: Int) {
    let (g, rec, hp, dhIn) = (UnsafeRawPointer(gates), UnsafeRawPointer(recurrent), UnsafeRawPointer(hPrevious),
                              UnsafeRawPointer(dh))
    let (p, q, direct) = (UnsafeMutableRawPointer(dP), UnsafeMutableRawPointer(dR), UnsafeMutableRawPointer(dhDirect))
    let gate = H * 4
    let one = V(broadcast: 1)
    var j = 0
    while j + V.lanes <= H {
        let at = j * 4
        let (r, z, n) = (V.load(g, byteOffset: at), V.load(g, byteOffset: at + gate), V.load(g, byteOffset: at + 2 * gate))
        let dhj = V.load(dhIn, byteOffset: at)
        let dn = dhj * (one - z) * (one - n * n)
        let dz = dhj * (V.load(hp, byteOffset: at) - n) * z * (one - z)
        let dr = dn * V.load(rec, byteOffset: at + 2 * gate) * r * (one - r)
        dr.store(p, byteOffset: at); dz.store(p, byteOffset: at + gate); dn.store(p, byteOffset: at + 2 * gate)
        dr.store(q, byteOffset: at); dz.store(q, byteOffset: at + gate); (dn * r).store(q, byteOffset: at + 2 * gate)
        (dhj * z).store(direct, byteOffset: at)
        j += V.lanes
    }
    gruBackwardUnits(j..<H, gates, recurrent, hPrevious, dh, dP, dR, dhDirect, H)
}

import Kernels

/// One recurrent layer: the input projection of all T steps at once, the recurrence step by
/// step, and backpropagation through time. The first layer reads tokens through its
/// embedding We (V, G), one row per token — the one-hot product We·onehot(x) as a row gather; a layer above reads the hidden states below through Wx (G, I). Wh (G, H) and Wx
/// are stored (out, in). Gate layout and cell equations: `CellType`.
///
/// Rows (sequences) are independent through the whole recurrence, so the time loops run one
/// thread per block of rows with one dispatch per chunk; the weight gradients are single large
/// products over all T·B positions after the loop (a dispatch per step costs µs that small products do not repay).
public struct RecurrentLayer<S: KernelScalar>: Sendable {
    public enum Input: Sendable, Equatable {
        case tokens(vocabulary: Int)
        case dense(width: Int)

        public var readsTokens: Bool { if case .tokens = self { true } else { false } }
    }

    public let index: Int              // 0 = the bottom layer
    public let input: Input
    public let hidden: Int             // H
    public let cell: CellType
    public let step: CellStep<S>
    public let inputWeight: TensorSpec     // We (V, G) or Wx.l (G, I)
    public let recurrentWeight: TensorSpec // Wh (G, H)
    public let bias: TensorSpec            // b (G)
    public let recurrentBias: TensorSpec?  // b_hn (H), gru only
    public var gateWidth: Int { cell.gates * hidden }
    public var tensors: [TensorSpec] { [inputWeight, recurrentWeight, bias] + (recurrentBias.map { [$0] } ?? []) }

    /// Tensor names: the bottom layer's are We, Wh, b1; layer l ≥ 2 has Wx.l, Wh.l, b.l.
    public init(index: Int, input: Input, hidden: Int, cell: CellType, activation: Activation,
                layout: inout ParameterLayout) {
        self.index = index
        self.input = input
        self.hidden = hidden
        self.cell = cell
        step = CellStep(type: cell, activation: activation, hidden: hidden)
        let G = cell.gates * hidden
        let suffix = index == 0 ? "" : ".\(index + 1)"
        switch input {
        case .tokens(let V): inputWeight = layout.add("We" + suffix, shape: [V, G])
        case .dense(let I): inputWeight = layout.add("Wx" + suffix, shape: [G, I])
        }
        recurrentWeight = layout.add("Wh" + suffix, shape: [G, hidden])
        bias = layout.add(index == 0 ? "b1" : "b" + suffix, shape: [G])
        recurrentBias = cell == .gru ? layout.add("bhn" + suffix, shape: [hidden]) : nil
    }

    /// Fills `work.states[1...T]` (and `cells`) from `work.states[0]` (and `cells[0]`), set by the
    /// caller. `tokens` (T, B) feed a token input; `below` (T·B, I) a dense one. Each thread
    /// builds its rows' input projection P_t = We[x_t] + b (or x_t·Wxᵀ + b) just before step t,
    /// while the rows are about to be used.
    @inlinable
    public func forward(tokens: [Int32], below: UnsafePointer<S>?, steps T: Int, rows B: Int,
                        parameters: FlatBuffer<S>, work: LayerWorkspace<S>, threads: Int) {
        let (H, G) = (hidden, gateWidth)
        if case .dense(let I) = input {
            gemm(m: T * B, n: G, k: I, a: below!, lda: I, b: parameters.view(inputWeight), ldb: I, transposeB: true,
                 c: work.projections, ldc: G, accumulate: false, threads: threads)
        }
        let WhT = work.packedRecurrent
        WhT.pack(parameters.view(recurrentWeight), ldb: H, transposed: true, k: H, n: G, threads: threads,
                 kBlockRows: recurrentKBlock)
        let p = (states: SendablePointer(work.states.base), cells: work.cells.map { SendablePointer($0.base) },
                 gates: SendablePointer(work.projections), recurrent: work.recurrent.map { SendablePointer($0.base) },
                 bhn: recurrentBias.map { SendableConstPointer(UnsafePointer(parameters.view($0))) },
                 bias: SendableConstPointer(UnsafePointer(parameters.view(bias))),
                 embedding: input.readsTokens ? SendableConstPointer(UnsafePointer(parameters.view(inputWeight))) : nil)
        let step = step
        tokens.withUnsafeBufferPointer { tokenBuffer in
            let x = tokenBuffer.baseAddress.map { SendableConstPointer($0) }
            parallelFor(B, threads: threads) { rows in
                let (n, lo) = (rows.count, rows.lowerBound)
                for t in 0..<T {
                    let hPrevious = p.states.base + (t * B + lo) * H
                    let g = p.gates.base + (t * B + lo) * G
                    for row in 0..<n {
                        let gateRow = g + row * G
                        if let We = p.embedding, let x {
                            let source = We.base + Int(x.base[t * B + lo + row]) * G
                            for j in 0..<G { gateRow[j] = source[j] + p.bias.base[j] }
                        } else {
                            for j in 0..<G { gateRow[j] += p.bias.base[j] }
                        }
                    }
                    var recurrent: UnsafeMutablePointer<S>? = nil
                    if let rec = p.recurrent, let bhn = p.bhn {
                        let r = rec.base + (t * B + lo) * G
                        gemm(m: n, a: hPrevious, lda: H, packed: WhT, c: r, ldc: G, accumulate: false)
                        for row in 0..<n { for j in 0..<H { r[row * G + 2 * H + j] += bhn.base[j] } }
                        recurrent = r
                    } else {
                        gemm(m: n, a: hPrevious, lda: H, packed: WhT, c: g, ldc: G, accumulate: true)
                    }
                    step.forward(n: n, gates: g, recurrent: recurrent, hPrevious: hPrevious,
                                 cPrevious: p.cells.map { UnsafePointer($0.base + (t * B + lo) * H) },
                                 h: p.states.base + ((t + 1) * B + lo) * H,
                                 c: p.cells.map { $0.base + ((t + 1) * B + lo) * H })
                }
            }
        }
    }

    /// Backpropagation through time. On entry `work.hiddenGrads` holds ∂loss/∂h_t from above. A
    /// single sweep writes the gradients over the step's inputs that it no longer needs (the
    /// gates, or a vanilla cell's ∂loss/∂h_t: `LayerWorkspace.gradientBuffers`).
    /// Adds the gradients of this layer's tensors to `gradients`; leaves ∂loss/∂h_0 (and c_0) in
    /// `work.carryGrad` (`cellCarryGrad`) and, for a dense input, writes ∂loss/∂input into
    /// `belowGradient` (T·B, I).
    ///
    /// Without `stateGradient`, ∂loss/∂h_0 is not computed and `carryGrad` is left undefined:
    /// training carries the state into the next chunk but not its gradient, so the first step's
    /// products dR_0 · Wh (one of the T backward recurrence products of a full sweep) would be
    /// thrown away.
    ///
    /// With `truncate` = k (`train.bptt_truncate`), the gradient of each step's loss flows back through at
    /// most k earlier steps: for each origin t, steps t, t−1, …, max(0, t−k). Without it, one
    /// sweep carries the gradient through the whole chunk:
    ///     g_t = ∂loss/∂h_t + (dR_{t+1} · Wh + direct_{t+1}),   (dP_t, dR_t) = cell′(g_t)
    ///     dWh = Σ_t dR_tᵀ h_{t−1},   db = Σ_t dP_t,   dWe[x_t] += dP_t  or  dWx = Σ_t dP_tᵀ x_t
    ///
    /// With a `listener`, BPTT polls it every time step, and the weight gradients are reported
    /// final as they are: the input weight and biases first (one pass over dP), then dWh in
    /// blocks of output rows (`recurrentGradientBlocks`), each reported as soon as it is
    /// computed. A block is the same product restricted to rows of dRᵀ, and every element is
    /// summed over the T·B positions in the same order, so the result is bit-identical to one
    /// product.
    ///
    /// The dWh products are split between `weightGradientThreads` threads (default `threads`).
    /// Thread replicas, whose kernels run on one thread each, pass their count: dWh is a pass's
    /// last work, and a replica done with its own pass by then takes part of another's
    /// (`WorkerPool`'s nested jobs) instead of waiting for it. Rows of dWh are independent, so
    /// the split changes no bit of the result.
    @inlinable
    public func backward(tokens: [Int32], below: UnsafePointer<S>?, belowGradient: UnsafeMutablePointer<S>?,
                         steps T: Int, rows B: Int, parameters: FlatBuffer<S>, gradients: FlatBuffer<S>,
                         work: LayerWorkspace<S>, threads: Int, weightGradientThreads: Int? = nil, truncate: Int? = nil,
                         stateGradient: Bool = true, listener: GradientListener? = nil) {
        let (H, G) = (hidden, gateWidth)
        let window = truncate ?? T
        let grads = work.gradientBuffers(singleSweep: window >= T)
        if window < T {   // several origins add into the same step's gradients
            grads.gates.zero()
            grads.recurrent?.zero()
        }
        let Wh = work.packedRecurrent
        Wh.pack(parameters.view(recurrentWeight), ldb: H, transposed: false, k: G, n: H, threads: threads,
                kBlockRows: recurrentKBlock)
        let p = (states: SendableConstPointer(UnsafePointer(work.states.base)),
                 cells: work.cells.map { SendableConstPointer(UnsafePointer($0.base)) },
                 gates: SendableConstPointer(UnsafePointer(work.projections)),
                 recurrent: work.recurrent.map { SendableConstPointer(UnsafePointer($0.base)) },
                 dP: SendablePointer(grads.gates.base), dR: grads.recurrent.map { SendablePointer($0.base) },
                 upstream: SendableConstPointer(UnsafePointer(work.hiddenGrads.base)),
                 carry: SendablePointer(work.carryGrad.base), cellCarry: work.cellCarryGrad.map { SendablePointer($0.base) })
        let step = step
        let temporaries = SendablePointer(work.backwardScratch.base)
        parallelFor(B, threads: threads) { rows in
            let (n, lo) = (rows.count, rows.lowerBound)
            // This thread's rows of the per-row temporaries (2G + 3H scalars a row).
            let scratch = temporaries.base + lo * (2 * G + 3 * H)
            let (dPt, dRt) = (scratch, scratch + n * G)         // this origin's ∂P_t, ∂R_t (truncated BPTT)
            let (g, direct, dc) = (scratch + 2 * n * G, scratch + 2 * n * G + n * H, scratch + 2 * n * G + 2 * n * H)
            let carry = p.carry.base + lo * H
            carry.update(repeating: 0, count: n * H)
            p.cellCarry.map { ($0.base + lo * H).update(repeating: 0, count: n * H) }

            /// Step s with ∂loss/∂h_s = g (and ∂loss/∂c_s = dc): sets (one sweep) or adds to
            /// (truncated, several origins) dP_s, dR_s and leaves ∂loss/∂h_{s−1} in g,
            /// ∂loss/∂c_{s−1} in dc.
            func backStep(_ s: Int) {
                let at = (s * B + lo)
                let (dP, dR) = (p.dP.base + at * G, p.dR.map { $0.base + at * G })
                let accumulate = window < T
                let (stepP, stepR) = accumulate ? (dPt, p.dR == nil ? nil : dRt) : (dP, dR)
                step.backward(n: n, gates: p.gates.base + at * G, recurrent: p.recurrent.map { $0.base + at * G },
                              hPrevious: p.states.base + at * H, h: p.states.base + (at + B) * H,
                              cPrevious: p.cells.map { $0.base + at * H },
                              c: p.cells.map { $0.base + (at + B) * H }, dh: g, dc: p.cellCarry == nil ? nil : dc,
                              dP: stepP, dR: stepR, dhDirect: step.hasDirectPath ? direct : nil)
                if accumulate {
                    for i in 0..<(n * G) { dP[i] += dPt[i] }
                    if let dR { for i in 0..<(n * G) { dR[i] += dRt[i] } }
                }
                // ∂loss/∂h_{s−1} = ∂R_s · Wh (+ direct)
                guard s > 0 || stateGradient else { return }
                gemm(m: n, a: UnsafePointer(stepR ?? stepP), lda: G, packed: Wh, c: g, ldc: H, accumulate: false)
                if step.hasDirectPath { for i in 0..<(n * H) { g[i] += direct[i] } }
            }

            if window >= T {
                g.update(repeating: 0, count: n * H)
                dc.update(repeating: 0, count: n * H)
                for t in stride(from: T - 1, through: 0, by: -1) {
                    let upstream = p.upstream.base + (t * B + lo) * H
                    for i in 0..<(n * H) { g[i] += upstream[i] }
                    backStep(t)
                    listener?.poll()
                }
                carry.update(from: g, count: n * H)
                p.cellCarry.map { ($0.base + lo * H).update(from: dc, count: n * H) }
            } else {
                for origin in stride(from: T - 1, through: 0, by: -1) {
                    g.update(from: p.upstream.base + (origin * B + lo) * H, count: n * H)
                    dc.update(repeating: 0, count: n * H)
                    let last = max(0, origin - window)
                    for s in stride(from: origin, through: last, by: -1) { backStep(s) }
                    listener?.poll()
                    if last == 0 {
                        for i in 0..<(n * H) { carry[i] += g[i] }
                        if let cellCarry = p.cellCarry { for i in 0..<(n * H) { cellCarry.base[lo * H + i] += dc[i] } }
                    }
                }
            }
        }
        let dR = (grads.recurrent ?? grads.gates).base
        let dP = grads.gates.base
        let sums = (dP: SendableConstPointer(UnsafePointer(dP)), dR: SendableConstPointer(UnsafePointer(dR)),
                    db: SendablePointer(gradients.view(bias)),
                    dbhn: recurrentBias.map { SendablePointer(gradients.view($0)) },
                    dWe: input.readsTokens ? SendablePointer(gradients.view(inputWeight)) : nil)
        // db = Σ_t dP_t, dWe[x_t] += dP_t (and the GRU's db_hn = Σ_t dR_t[n-gate]) in one pass
        // over dP. Tokens repeat, so rows of dWe collide; columns never do: threads take columns.
        tokens.withUnsafeBufferPointer { tokenBuffer in
            let x = tokenBuffer.baseAddress.map { SendableConstPointer($0) }
            parallelFor(G, threads: usefulThreads(threads, work: T * B * G, perThread: 1 << 20), grain: 16) { columns in
                let newGate = columns.clamped(to: 2 * H..<3 * H)
                for position in 0..<(T * B) {
                    let row = sums.dP.base + position * G
                    for j in columns { sums.db.base[j] += row[j] }
                    if let dWe = sums.dWe, let x {
                        let target = dWe.base + Int(x.base[position]) * G
                        for j in columns { target[j] += row[j] }
                    }
                    if let dbhn = sums.dbhn {
                        let recurrentRow = sums.dR.base + position * G
                        for j in newGate { dbhn.base[j - 2 * H] += recurrentRow[j] }
                    }
                }
            }
        }
        if case .dense(let I) = input {
            gemm(m: G, n: I, k: T * B, a: dP, lda: G, transposeA: true, b: below!, ldb: I,
                 c: gradients.view(inputWeight), ldc: I, accumulate: true, threads: threads)
        }
        if let listener {
            for tensor in [inputWeight, bias] + (recurrentBias.map { [$0] } ?? []) {
                listener.gradientsFinal(tensor.offset..<(tensor.offset + tensor.count))
            }
        }
        // dWh = dRᵀ·H over all T·B positions (H: the states h_0 … h_{T−1}, (T·B, H)). With a
        // listener, in blocks of output rows, each reported when computed; the states are then
        // packed once for all the blocks (the same values the single product reads).
        let dWh = gradients.view(recurrentWeight)
        let blocks = recurrentGradientBlocks
        let dWhThreads = weightGradientThreads ?? threads
        if let listener, blocks.count > 1 {
            work.packing.pack(work.states.base, ldb: H, transposed: false, k: T * B, n: H, threads: threads)
            for block in blocks {
                gemm(m: block.count, a: dR + block.lowerBound, lda: G, transposeA: true, packed: work.packing,
                     c: dWh + block.lowerBound * H, ldc: H, accumulate: true, threads: dWhThreads)
                let first = recurrentWeight.offset + block.lowerBound * H
                listener.gradientsFinal(first..<(first + block.count * H))
                listener.poll()
            }
        } else {
            gemm(m: G, n: H, k: T * B, a: dR, lda: G, transposeA: true, b: work.states.base, ldb: H,
                 c: dWh, ldc: H, accumulate: true, threads: dWhThreads)
            listener?.gradientsFinal(recurrentWeight.offset..<(recurrentWeight.offset + recurrentWeight.count))
        }
        if case .dense(let I) = input {
            gemm(m: T * B, n: I, k: G, a: dP, lda: G, b: parameters.view(inputWeight), ldb: I,
                 c: belowGradient!, ldc: I, accumulate: false, threads: threads)
        }
    }

    /// The blocks of dWh's rows reported to a listener, in order. The last holds about 12 K
    /// values, 48 KB of float32 — one message under OpenMPI's TCP eager limit (64 KB with its
    /// header) — because the step waits for its reduction. The others hold up to 128 rows: each
    /// block streams all T·B states (3.2 MB in a replica of model B) through the cache once,
    /// so 24-row blocks read them 22 times a step where these read them 5 times (model B, AVX2
    /// tile, 2 threads, four interleaved pairs: +5.5, +3.5, +7.5 and −1 % tokens/s).
    /// `StepExchange` still sends a large block as 48 KB pieces. Block edges are multiples of 8
    /// rows, the height of the AVX-512 and NEON tiles, so that few blocks end inside a tile
    /// (which costs a little speed, never a bit of the result: the rows of a tile are
    /// independent).
    @inlinable
    public var recurrentGradientBlocks: [Range<Int>] {
        let G = gateWidth
        let earlier = max(0, G - max(8, (12_288 / max(hidden, 1)) / 8 * 8)) / 8 * 8
        let count = (earlier + 127) / 128
        var blocks: [Range<Int>] = []
        var start = 0
        for b in 0..<count {   // `earlier` in `count` nearly equal parts, each a multiple of 8
            let end = b == count - 1 ? earlier : (earlier * (b + 1) / count) / 8 * 8
            if end > start { blocks.append(start..<end) }
            start = max(start, end)
        }
        blocks.append(earlier..<G)
        return blocks
    }
}

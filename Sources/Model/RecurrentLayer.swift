import Kernels

/// The vanilla recurrent layer of SPEC §1 with its input embedding:
///
///     z_t = We[x_t] + h_{t−1} · Whᵀ + b1,    h_t = f(z_t)
///
/// We (V, H) is the input matrix stored one row per token, so `We[x_t]` is a row gather, the
/// same math as the seeds' one-hot product `We · onehot(x_t)` with V times fewer operations.
/// Wh (H, H) is stored (out, in): Wh[i, j] carries h_{t−1}[j] into z_t[i].
///
/// Rows (sequences) are independent through the whole recurrence, so the time loops run one
/// thread per block of rows, each with one dispatch per chunk; the weight gradient is one large
/// product over all T·B positions after the loop (PERF-NOTES: µs-scale dispatches do not pay).
public struct RecurrentLayer<S: KernelScalar>: Sendable {
    public let vocabulary: Int    // V
    public let hidden: Int        // H
    public let activation: Activation
    public let embedding: TensorSpec   // We (V, H)
    public let recurrent: TensorSpec   // Wh (H, H)
    public let bias: TensorSpec        // b1 (H)

    public init(vocabulary: Int, hidden: Int, activation: Activation, layout: inout ParameterLayout) {
        self.vocabulary = vocabulary
        self.hidden = hidden
        self.activation = activation
        embedding = layout.add("We", shape: [vocabulary, hidden])
        recurrent = layout.add("Wh", shape: [hidden, hidden])
        bias = layout.add("b1", shape: [hidden])
    }

    /// Fills `work.states[1...T]` from `work.states[0]` (the carried state, set by the caller).
    @inlinable
    public func forward(_ batch: TokenBatch, parameters: FlatBuffer<S>, work: Workspace<S>, threads: Int) {
        let (T, B, H) = (batch.steps, batch.rows, hidden)
        let states = SendablePointer(work.states.base)
        let We = SendableConstPointer(UnsafePointer(parameters.view(embedding)))
        let b1 = SendableConstPointer(UnsafePointer(parameters.view(bias)))
        let activation = activation
        let WhT = work.packedRecurrent
        WhT.pack(parameters.view(recurrent), ldb: H, transposed: true, k: H, n: H)
        batch.inputs.withUnsafeBufferPointer { inputs in
            let x = SendableConstPointer(inputs.baseAddress!)
            parallelFor(B, threads: threads) { rows in
                let n = rows.count
                for t in 0..<T {
                    let previous = states.base + (t * B + rows.lowerBound) * H   // (n, H) h_{t−1}
                    let current = states.base + ((t + 1) * B + rows.lowerBound) * H  // (n, H) z_t, then h_t
                    for (r, b) in rows.enumerated() {
                        let row = current + r * H
                        let token = We.base + Int(x.base[t * B + b]) * H
                        for j in 0..<H { row[j] = token[j] + b1.base[j] }
                    }
                    gemm(m: n, a: previous, lda: H, packed: WhT, c: current, ldc: H, accumulate: true)
                    activation.apply(current, count: n * H)
                }
            }
        }
    }

    /// Backpropagation through time over the chunk. On entry `work.hiddenGrads` holds ∂loss/∂h_t
    /// from above; on exit it holds ∂loss/∂z_t, `work.carryGrad` holds ∂loss/∂h_0, and the
    /// gradients of We, Wh and b1 are added to `gradients`.
    ///
    ///     g_t = ∂loss/∂h_t + ∂z_{t+1}/∂h_t · dz_{t+1},   dz_t = g_t ⊙ f'(h_t)
    ///     dWh = Σ_t dz_tᵀ h_{t−1},   db1 = Σ_t dz_t,   dWe[x_t] += dz_t
    @inlinable
    public func backward(_ batch: TokenBatch, parameters: FlatBuffer<S>, gradients: FlatBuffer<S>,
                         work: Workspace<S>, threads: Int) {
        let (T, B, H) = (batch.steps, batch.rows, hidden)
        let states = SendableConstPointer(UnsafePointer(work.states.base))
        let dz = SendablePointer(work.hiddenGrads.base)
        let carry = SendablePointer(work.carryGrad.base)
        let activation = activation
        let Wh = work.packedRecurrent
        Wh.pack(parameters.view(recurrent), ldb: H, transposed: false, k: H, n: H)
        parallelFor(B, threads: threads) { rows in
            let n = rows.count
            let next = carry.base + rows.lowerBound * H   // (n, H) ∂loss/∂h_t through h_{t+1}
            next.update(repeating: 0, count: n * H)
            for t in stride(from: T - 1, through: 0, by: -1) {
                let g = dz.base + (t * B + rows.lowerBound) * H
                for i in 0..<(n * H) { g[i] += next[i] }
                activation.backward(output: states.base + ((t + 1) * B + rows.lowerBound) * H,
                                    gradient: g, into: g, count: n * H)
                gemm(m: n, a: g, lda: H, packed: Wh, c: next, ldc: H, accumulate: false)
            }
        }
        gemm(m: H, n: H, k: T * B, a: work.hiddenGrads.base, lda: H, transposeA: true,
             b: work.states.base, ldb: H, c: gradients.view(recurrent), ldc: H, accumulate: true,
             threads: threads)
        accumulateColumnSums(work.hiddenGrads.base, rows: T * B, columns: H, into: gradients.view(bias))
        let dWe = gradients.view(embedding)
        for (position, token) in batch.inputs.enumerated() {
            let source = work.hiddenGrads.base + position * H
            let row = dWe + Int(token) * H
            for j in 0..<H { row[j] += source[j] }
        }
    }
}

import Kernels

/// The output affine layer and the loss over all T·B positions at once:
///
///     θ = h · Uᵀ + b2,   loss = Σ_{t,b scored} −log softmax(θ)[y]
///
/// U (V, H), b2 (V). The loss is the *sum*; the trainer divides gradients and loss by the global
/// sequence count after the allreduce, so every rank contributes plain sums.
public struct OutputLayer<S: KernelScalar>: Sendable {
    public let vocabulary: Int   // V
    public let hidden: Int       // H
    public let weight: TensorSpec   // U (V, H)
    public let bias: TensorSpec     // b2 (V)
    public var tensors: [TensorSpec] { [weight, bias] }

    public init(vocabulary: Int, hidden: Int, layout: inout ParameterLayout) {
        self.vocabulary = vocabulary
        self.hidden = hidden
        weight = layout.add("U", shape: [vocabulary, hidden])
        bias = layout.add("b2", shape: [vocabulary])
    }

    /// Logits of the top layer's h_1...h_T and the summed loss; with `gradient`,
    /// `work.logits` is left holding ∂loss/∂θ.
    @inlinable
    public func forward(_ batch: TokenBatch, parameters: FlatBuffer<S>, work: Workspace<S>,
                        gradient: Bool, threads: Int) -> Double {
        let (N, V) = (batch.steps * batch.rows, vocabulary)
        computeLogits(positions: N, rows: batch.rows, parameters: parameters, work: work, threads: threads)
        let logits = SendablePointer(work.logits.base)
        let rowLoss = SendablePointer(work.rowLoss.base)
        batch.targets.withUnsafeBufferPointer { (targets: UnsafeBufferPointer<Int32>) -> Void in
            let y = SendableConstPointer(targets.baseAddress!)
            withMaskPointer(batch.mask) { (mask: UnsafePointer<UInt8>?) -> Void in
                let m: SendableConstPointer<UInt8>? = mask.map { SendableConstPointer($0) }
                parallelFor(N, threads: threads) { positions in
                    for p in positions {
                        let rowMask: UnsafePointer<UInt8>? = m.map { $0.base + p }
                        rowLoss.base[p] = softmaxCrossEntropy(
                            logits: logits.base + p * V, rows: 1, classes: V, targets: y.base + p,
                            mask: rowMask, gradient: gradient)
                    }
                }
            }
        }
        var loss = 0.0
        for p in 0..<N { loss += work.rowLoss.base[p] }
        return loss
    }

    /// θ = h · Uᵀ + b2 for the first `positions` hidden states after the carried one
    /// (the top layer's `states[rows...]`), into `work.logits` (positions, V).
    @inlinable
    public func computeLogits(positions N: Int, rows: Int, parameters: FlatBuffer<S>, work: Workspace<S>, threads: Int) {
        let (H, V) = (hidden, vocabulary)
        let hiddenStates = work.top.states.base + rows * H   // (N, H)
        gemm(m: N, n: V, k: H, a: hiddenStates, lda: H, b: parameters.view(weight), ldb: H,
             transposeB: true, c: work.logits.base, ldc: V, accumulate: false, threads: threads)
        addToEveryRow(work.logits.base, rows: N, columns: V, vector: parameters.view(bias))
    }

    /// Adds dU = dθᵀ h and db2 = Σ dθ to `gradients`; writes ∂loss/∂h_t = dθ · U into
    /// the top layer's `hiddenGrads`.
    @inlinable
    public func backward(_ batch: TokenBatch, parameters: FlatBuffer<S>, gradients: FlatBuffer<S>,
                         work: Workspace<S>, threads: Int) {
        let (N, H, V) = (batch.steps * batch.rows, hidden, vocabulary)
        let hiddenStates = work.top.states.base + batch.rows * H
        gemm(m: V, n: H, k: N, a: work.logits.base, lda: V, transposeA: true, b: hiddenStates, ldb: H,
             c: gradients.view(weight), ldc: H, accumulate: true, threads: threads)
        accumulateColumnSums(work.logits.base, rows: N, columns: V, into: gradients.view(bias), threads: threads)
        gemm(m: N, n: H, k: V, a: work.logits.base, lda: V, b: parameters.view(weight), ldb: H,
             c: work.top.hiddenGrads.base, ldc: H, accumulate: false, threads: threads)
    }
}

@inlinable
func withMaskPointer<R>(_ mask: [UInt8]?, _ body: (UnsafePointer<UInt8>?) -> R) -> R {
    guard let mask else { return body(nil) }
    return mask.withUnsafeBufferPointer { body($0.baseAddress!) }
}

import Kernels

/// The activations of one chunk, kept between the forward and the backward pass and reused
/// from step to step (no allocation in the step loop).
public final class Workspace<S: KernelScalar>: @unchecked Sendable {
    public let steps: Int        // T
    public let rows: Int         // B
    public let hidden: Int       // H
    public let vocabulary: Int   // V
    public let states: FlatBuffer<S>      // (T+1, B, H) states[0] = carried state, states[t+1] = h_t
    public let logits: FlatBuffer<S>      // (T, B, V) logits, then ∂loss/∂logits
    public let hiddenGrads: FlatBuffer<S> // (T, B, H) ∂loss/∂h_t from the output, then ∂loss/∂z_t
    public let carryGrad: FlatBuffer<S>   // (B, H) ∂loss/∂h_{t} flowing back; ends as ∂loss/∂h_0
    public let rowLoss: FlatBuffer<Double> // (T·B) loss of each position, summed in a fixed order
    public let packedRecurrent = PackedMatrix<S>() // Whᵀ in the forward pass, Wh in the backward

    public init(steps: Int, rows: Int, hidden: Int, vocabulary: Int) {
        self.steps = steps
        self.rows = rows
        self.hidden = hidden
        self.vocabulary = vocabulary
        states = FlatBuffer(count: (steps + 1) * rows * hidden)
        logits = FlatBuffer(count: steps * rows * vocabulary)
        hiddenGrads = FlatBuffer(count: steps * rows * hidden)
        carryGrad = FlatBuffer(count: rows * hidden)
        rowLoss = FlatBuffer(count: steps * rows)
    }

    /// ∂loss/∂h_0 after a backward pass: (B, H).
    public var initialStateGradient: [S] { carryGrad.array }
}

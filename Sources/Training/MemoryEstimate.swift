import Foundation
import Model

/// What a run will hold in memory per rank, worked out from the config before anything is
/// allocated, so that a model or batch too large for the node is an error that says so rather
/// than a failed allocation (README, "How cost grows").
struct MemoryEstimate {
    let parameters: Double      // n
    let bytesPerRank: Double

    /// In Double, so no size a config can name overflows.
    /// `threads` per rank: above one, each runs a replica with a gradient buffer of its own.
    init(config: Config, shape: ModelShape, ranks: Int, threads: Int = 1) {
        let (V, H, L) = (Double(shape.vocabulary), Double(shape.hidden), Double(shape.layers))
        let G = Double(shape.cell.gates) * H
        let extraBias = shape.cell == .gru ? H : 0
        // Layer 1: We (V, G), Wh (G, H), b (G); each layer above: Wx and Wh (G, H), b; output U, b2.
        parameters = (V * G + G * H + G + extraBias) + (L - 1) * (2 * G * H + G + extraBias) + V * H + V
        let slots = Double(config.train.optimizer.stateSlots)
        let rows = Double(config.train.batchSize) / Double(ranks), T = Double(config.train.seqLength)
        // Gates (and the GRU's R_t), whose gradients a single BPTT sweep writes over them, and a
        // vanilla cell's over ∂loss/∂h; truncated BPTT keeps the gradients apart
        // (`LayerWorkspace.gradientBuffers`).
        let gateArrays = Double((shape.cell.keepsGates ? 1 : 0) + (shape.cell.keepsRecurrentProduct ? 1 : 0))
        let gradientArrays = config.train.bpttTruncate == nil ? 0 : Double(shape.cell.keepsRecurrentProduct ? 2 : 1)
        let gateBuffers = (gateArrays + gradientArrays) * G
        let activations = T * rows * ((gateBuffers + 4 * H) * L + 2 * V)
        let replicaGradients = threads > 1 ? Double(threads) : 0
        // Parameters, gradients (and the replicas') and optimizer state, Float each, plus one
        // chunk's activations.
        bytesPerRank = 4 * (parameters * (2 + slots + replicaGradients) + activations)
    }

    /// An input error when the ranks on this node would need more than the node has.
    func check(ranksOnNode: Int) throws {
        let available = Double(ProcessInfo.processInfo.physicalMemory) / Double(max(ranksOnNode, 1))
        guard bytesPerRank <= available else {
            throw RNNDistError.input(String(format: "the model and batch need about %.3g GiB per rank; this node has %.3g GiB per rank: choose a smaller model.hidden_size, model.layers, train.batch_size or train.seq_length (or more ranks)",
                                            bytesPerRank / 1_073_741_824, available / 1_073_741_824))
        }
    }
}

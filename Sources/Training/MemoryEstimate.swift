import Foundation
import Model

/// What a run will hold in memory per rank, worked out from the config before anything is
/// allocated, so that a model or batch too large for the node is an error that says so rather
/// than a process the kernel (or the scheduler's memory limit) kills (README, "How cost grows").
///
/// It counts what the trainer allocates: copies of the parameters (the parameters, the
/// gradient sums, the optimizer's state, each thread replica's gradients, a checkpoint's copy
/// and its encoding (as many as reading one at start holds), the bfloat16 wire, the
/// allreduce's scratch), the activations of the training workspaces and of
/// validation's own (`WorkspaceSize`, the account the workspaces allocate by), the packed
/// recurrent weights and states, the kernels' per-thread packed blocks, and the runtime
/// itself. Measured against the peak resident memory of real runs (`MemoryEstimateCLITests`).
struct MemoryEstimate {
    let parameters: Double      // n
    let bytesPerRank: Double

    /// What the process holds before the model — the Swift runtime, Foundation and (under
    /// mpirun) OpenMPI's libraries and buffers: a model of 8 hidden units peaked at 30 MiB with
    /// `--ranks 1` and at 36–37 MiB on rank 0 of `mpirun -np 2` (Zen 4, 2026-12-07) — and room
    /// for what is too small to count one by one (token batches, the kernels' packed tiles of
    /// A, the sampler's state, the allocator's slack): in twelve runs the rest of the peak came
    /// within 9 MiB below and 16 MiB above what is counted.
    static let runtimeBytes = 96.0 * 1_048_576

    /// The widest panel of any kernel path's tile (AVX-512's 32 columns): packed layouts pad
    /// their columns to a multiple of it at most.
    static let widestPanel = 32.0

    /// In Double, so no size a config can name overflows. `trainRows`: this rank's rows of the
    /// batch (B/P); `validation`: its validation layout's steps and rows, when the data has a
    /// validation split; `ranks` in the run, `threads` per rank.
    init(config: Config, shape: ModelShape, trainRows: Int, validation: (steps: Int, rows: Int)?, ranks: Int = 1,
         threads: Int = 1) {
        let (V, H, L) = (Double(shape.vocabulary), Double(shape.hidden), Double(shape.layers))
        let G = Double(shape.cell.gates) * H
        let extraBias = shape.cell == .gru ? H : 0
        // Layer 1: We (V, G), Wh (G, H), b (G); each layer above: Wx and Wh (G, H), b; output U, b2.
        parameters = (V * G + G * H + G + extraBias) + (L - 1) * (2 * G * H + G + extraBias) + V * H + V
        let slots = Double(config.train.optimizer.stateSlots)
        let T = Double(config.train.seqLength)
        let microRows = trainRows / max(config.train.accumulate, 1)
        let replicaCount = ThreadReplicas.count(threads: threads, rows: microRows)
        let replicas = Double(replicaCount ?? 0)
        // Copies of the parameters: the parameters, the summed gradients (`StepExchange`), the
        // optimizer's state, each replica's gradients, a checkpoint's copy of the parameters and
        // state and the file encoded from it (reading one at `--resume` or `--init-from` holds
        // no more: `CheckpointLookup.shared`), the bfloat16 copy of the gradients on the wire,
        // and with more than one rank the allreduce's own scratch (OpenMPI's reductions hold a
        // buffer of the message's size: rank 0 of `-np 2` peaked 38 MiB above one process of
        // the same rows, lstm H 1024 × 2, 13 M parameters).
        let wire = config.train.allreduceDtype == .bfloat16 ? 0.5 : 0
        let reductionScratch = ranks > 1 ? 1.0 : 0
        let checkpointCopies = 2 * (1 + slots)
        let parameterCopies = 1 + 1 + slots + replicas + checkpointCopies + wire + reductionScratch
        // Activations: the training micro-batch's rows (split between the replicas: every
        // buffer is a whole number of rows) with truncated BPTT's gradient buffers, and
        // validation's batch when it has a workspace of its own (with replicas or micro-batches).
        // Doubles count as two scalars.
        func activations(steps: Int, rows: Int, truncated: Bool = false) -> Double {
            let size = WorkspaceSize(shape: shape, steps: Double(steps), rows: Double(rows))
            let truncatedGradients = truncated ? L * (size.topLayer.truncatedGates + size.topLayer.truncatedRecurrent) : 0
            return size.scalars + 2 * size.rowLoss + truncatedGradients
        }
        let truncated = config.train.bpttTruncate.map { $0 < config.train.seqLength } ?? false
        let ownValidation = Evaluator.needsOwnWorkspace(replicated: replicaCount != nil,
                                                        accumulate: config.train.accumulate) ? validation : nil
        let validationActivations = ownValidation.map { activations(steps: $0.steps, rows: $0.rows) } ?? 0
        // Packed operands: each workspace's recurrent weights (both ways share one buffer), the
        // states packed for dWh's blocks, and every thread's packed block of a product's B (at
        // most 513 rows of the widest of G and V; `BLayout.packedPerBlock`).
        let packedRecurrent = L * (G + Self.widestPanel) * (H + Self.widestPanel)
        let workspaces = max(replicas, 1) + (ownValidation == nil ? 0 : 1)
        let packedStates = T * Double(microRows) * (H + Self.widestPanel)
        let packedBlocks = Double(threads) * 513 * (max(G, V) + Self.widestPanel)
        // The carried states: the rank's, validation's, and the whole batch's in a checkpoint.
        let stateWidth = L * (shape.cell.hasCellState ? 2 : 1) * H
        let states = stateWidth * (Double(trainRows) + Double(validation?.rows ?? 0) + 3 * Double(config.train.batchSize))
        let trainingActivations = activations(steps: config.train.seqLength, rows: microRows, truncated: truncated)
        let scalars = parameters * parameterCopies + trainingActivations + validationActivations
            + workspaces * packedRecurrent + packedStates + packedBlocks + states
        bytesPerRank = 4 * scalars + Self.runtimeBytes
    }

    /// An input error when the ranks on this node would need more than the node can give them:
    /// its available memory, or what the cgroup's limit leaves (a Slurm job's `--mem`).
    func check(ranksOnNode: Int, available: Int? = MemoryBudget.available()) throws {
        let total = Double(available ?? Int(clamping: ProcessInfo.processInfo.physicalMemory))
        let perRank = total / Double(max(ranksOnNode, 1))
        guard bytesPerRank <= perRank else {
            throw RNNDistError.input(String(format: "the model and batch need about %.3g GiB per rank; this node has %.3g GiB available per rank: choose a smaller model.hidden_size, model.layers, train.batch_size or train.seq_length (or more ranks)",
                                            bytesPerRank / 1_073_741_824, perRank / 1_073_741_824))
        }
    }
}

import Model

/// The run configuration (README, "Configs"): one JSON object with sections data, model, train,
/// checkpoint, sample, log. Field names follow the JSON keys; `ConfigLoader` fills and checks
/// them, so every value here is already valid.
public struct Config: Sendable, Equatable {
    public struct Data: Sendable, Equatable {
        public var path: String?                 // the corpus; nil with `synthetic`
        public var tokenizer: Tokenizer = .char
        public var valFraction = 0.05
        public var synthetic: SyntheticTask?     // a generated corpus instead of a file
        public var syntheticTokens = 200_000
        public var vocabSize = 10_000           // word tokenizer
    }
    public struct ModelSection: Sendable, Equatable {
        public var cell: CellType = .rnn
        public var activation: Activation = .tanh
        public var hiddenSize = 128
        public var layers = 1
        public var dropout = 0.0
    }
    public struct Train: Sendable, Equatable {
        public var batchSize = 64
        public var seqLength = 50
        public var accumulate = 1                // micro-batches per step: B/(P·A) rows each
        public var epochs = 1
        public var maxSteps: Int?
        public var optimizer: OptimizerKind = .adagrad
        public var lr = 0.01
        public var momentum = 0.9
        public var beta1 = 0.9
        public var beta2 = 0.999
        public var rho = 0.99
        public var eps = 1e-8
        public var lrSchedule: ScheduleName = .constant
        public var lrDecay = 0.5
        public var lrDecayEvery = 1000
        public var clipValue: Double? = 5
        public var clipNorm: Double?
        public var carryState = true
        public var bpttTruncate: Int?
        public var seed = 1
        public var threads: Int?
        public var syncCheckEvery = 200
        public var maxBadSteps = 3
        public var stallTimeout = 600.0
        public var earlyStop: Int?             // validations without a new best before stopping
        public var keepOptimizer = false       // --init-from: keep the checkpoint's optimizer state
        public var allreduceDtype: AllreduceType = .float32   // how gradients cross the network
    }
    public struct Checkpoint: Sendable, Equatable {
        public var dir = "checkpoints"
        public var every = 1000
        public var keep = 3
    }
    public struct Sample: Sendable, Equatable {
        public var every = 1000
        public var length = 200
        public var temperature = 1.0
        public var prime = ""
    }
    public struct Log: Sendable, Equatable {
        public var every = 100
        public var valEvery: Int? = 1000
        public var metrics: String?
    }

    /// Where the config came from, for messages.
    public var source = "<defaults>"
    /// The document it was read from, overrides applied: what a checkpoint records.
    public var document: JSONValue = .object([:])
    public var data = Data()
    public var model = ModelSection()
    public var train = Train()
    public var checkpoint = Checkpoint()
    public var sample = Sample()
    public var log = Log()

    public init() {}

    /// The model this config describes, for a vocabulary of V tokens.
    public func modelShape(vocabulary: Int) -> ModelShape {
        ModelShape(vocabulary: vocabulary, hidden: model.hiddenSize, activation: model.activation, cell: model.cell,
                   layers: model.layers, dropout: model.dropout)
    }

    public enum ScheduleName: String, Sendable, CaseIterable {
        case constant, step, plateau
    }

    public var optimizerSettings: OptimizerSettings {
        OptimizerSettings(kind: train.optimizer, momentum: train.momentum, beta1: train.beta1, beta2: train.beta2,
                          rho: train.rho, epsilon: train.eps)
    }

    public var schedule: LearningRateSchedule {
        switch train.lrSchedule {
        case .constant: return .constant
        case .step: return .stepDecay(factor: train.lrDecay, every: train.lrDecayEvery)
        case .plateau: return .halveOnPlateau
        }
    }

    /// Clipping after the allreduce: by global norm when `clip_norm` is set, else by value.
    public var clipping: GradientClipping {
        if let norm = train.clipNorm { return .globalNorm(norm) }
        if let value = train.clipValue { return .value(value) }
        return .none
    }
}

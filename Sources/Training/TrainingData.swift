/// The corpus of a run, split and checked against the batch shape.
public struct TrainingData: Sendable {
    public let train: Corpus
    public let validation: Corpus
    /// Where the text came from, for the header line.
    public let description: String

    public var vocabulary: Vocabulary { train.vocabulary }

    /// Loads `data.path` (or generates `data.synthetic`) and splits off the validation tail.
    /// A corpus too small for one step is an input error that says how small.
    public init(config: Config) throws {
        let corpus: Corpus
        if let task = config.data.synthetic {
            corpus = task.generate(tokens: config.data.syntheticTokens, seed: UInt64(config.train.seed))
            description = "synthetic \(task.rawValue)"
        } else {
            let path = config.data.path!
            corpus = try Corpus.load(path: path, tokenizer: config.data.tokenizer)
            description = path
        }
        (train, validation) = corpus.split(validationFraction: config.data.valFraction)
        let needed = StreamLayout.minimumTokens(globalRows: config.train.batchSize, steps: config.train.seqLength)
        guard train.tokens.count >= needed else {
            throw RNNDistError.input("\(description): \(train.tokens.count) training tokens are too few for train.batch_size \(config.train.batchSize) × (train.seq_length \(config.train.seqLength) + 1) = \(needed); use a larger corpus or a smaller batch")
        }
    }
}

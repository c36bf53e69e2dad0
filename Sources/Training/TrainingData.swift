import Distributed

/// This rank's part of the corpus (`StreamLayout` says how it is cut): the training and validation
/// shards it owns, the layouts that batch them, and the vocabulary shared by every rank.
///
/// With a file, rank 0 scans it (vocabulary, token count, every shard's byte range) and
/// broadcasts the result; each rank then reads only its own byte ranges. A generated task is
/// generated whole on every rank (it is small) and sliced the same way.
public struct TrainingData: Sendable {
    public let vocabulary: Vocabulary
    public let train: Corpus            // this rank's training streams
    public let validation: Corpus       // this rank's validation streams (empty without validation)
    public let trainLayout: StreamLayout
    public let validationLayout: StreamLayout?
    public let trainTokenCount: Int     // over all ranks
    public let validationTokenCount: Int
    /// Where the text came from, for the header line.
    public let description: String

    public init(config: Config, communicator: Communicator = SingleProcess()) throws {
        let (rank, ranks) = (communicator.rank, communicator.size)
        try communicator.agree {
            let B = config.train.batchSize
            guard B % ranks == 0 else {
                throw RNNDistError.input("\(config.source): train.batch_size \(B) does not divide by the \(ranks) ranks; choose a multiple of \(ranks)")
            }
        }
        if let task = config.data.synthetic {
            let corpus = task.generate(tokens: config.data.syntheticTokens, seed: UInt64(config.train.seed))
            self = try TrainingData(whole: corpus, description: "synthetic \(task.rawValue)", config: config,
                                    communicator: communicator)
            return
        }
        let path = config.data.path!
        let tokenizer = config.data.tokenizer
        if tokenizer == .word {
            // Words need the whole text for their counts, so every rank tokenizes all of it
            // (word corpora are small next to character ones), then keeps its shard.
            let corpus = try communicator.agree { try Corpus.loadWords(path: path, vocabularySize: config.data.vocabSize) }
            self = try TrainingData(whole: corpus, description: path, config: config, communicator: communicator)
            return
        }
        // Rank 0: [token count, symbol count, symbols…, then per rank the byte offsets of its
        // training start/end and validation start/end].
        let index = try communicator.fromRoot {
            let (symbols, count) = try CorpusFile.scan(path: path, tokenizer: tokenizer)
            let plan = try ShardPlan(tokenCount: count, config: config, ranks: ranks, source: path)
            let boundaries = (0..<ranks).flatMap { r in
                [plan.trainRange(rank: r), plan.validationRange(rank: r)].flatMap { [$0.lowerBound, $0.upperBound] }
            }
            let unique = Array(Set(boundaries)).sorted()
            let offsets = try CorpusFile.byteOffsets(path: path, tokenizer: tokenizer, tokenIndices: unique)
            let offsetOf = Dictionary(uniqueKeysWithValues: zip(unique, offsets))
            return [UInt64(count), UInt64(symbols.count)] + symbols.map(UInt64.init)
                + boundaries.map { UInt64(offsetOf[$0]!) }
        }
        let count = Int(index[0]), symbolCount = Int(index[1])
        let symbols = index[2..<(2 + symbolCount)].map { UInt32($0) }
        let offsets = index[(2 + symbolCount)...].map { Int($0) }
        let mine = Array(offsets[(4 * rank)..<(4 * rank + 4)])
        let plan = try ShardPlan(tokenCount: count, config: config, ranks: ranks, source: path)
        let vocabulary = tokenizer == .byte ? Vocabulary.bytes : Vocabulary(tokenizer: .char, symbols: symbols)
        let trainRange = plan.trainRange(rank: rank), validationRange = plan.validationRange(rank: rank)
        (train, validation) = try communicator.agree {
            let train = try CorpusFile.read(path: path, vocabulary: vocabulary, bytes: mine[0]..<mine[1],
                                            expectedTokens: trainRange.count)
            let validation = try CorpusFile.read(path: path, vocabulary: vocabulary, bytes: mine[2]..<mine[3],
                                                 expectedTokens: validationRange.count)
            return (Corpus(vocabulary: vocabulary, tokens: train, firstToken: trainRange.lowerBound),
                    Corpus(vocabulary: vocabulary, tokens: validation, firstToken: validationRange.lowerBound))
        }
        self.vocabulary = vocabulary
        description = path
        (trainLayout, validationLayout) = (plan.trainLayout(rank: rank), plan.validationLayout(rank: rank))
        (trainTokenCount, validationTokenCount) = (plan.trainCount, plan.validationCount)
    }
}

extension TrainingData {
    /// This rank's shard of a corpus that every rank holds whole.
    init(whole corpus: Corpus, description: String, config: Config, communicator: Communicator) throws {
        let (rank, ranks) = (communicator.rank, communicator.size)
        let plan = try communicator.agree {
            try ShardPlan(tokenCount: corpus.tokens.count, config: config, ranks: ranks, source: description)
        }
        self.description = description
        vocabulary = corpus.vocabulary
        train = corpus.slice(plan.trainRange(rank: rank))
        validation = corpus.slice(plan.validationRange(rank: rank))
        (trainLayout, validationLayout) = (plan.trainLayout(rank: rank), plan.validationLayout(rank: rank))
        (trainTokenCount, validationTokenCount) = (plan.trainCount, plan.validationCount)
    }
}

/// Which tokens each rank owns, from the token count alone (so every rank computes the same).
struct ShardPlan {
    let trainCount: Int
    let validationCount: Int
    let globalRows: Int
    let steps: Int
    let ranks: Int

    init(tokenCount: Int, config: Config, ranks: Int, source: String) throws {
        trainCount = Corpus.trainingCount(tokenCount, validationFraction: config.data.valFraction)
        validationCount = tokenCount - trainCount
        globalRows = config.train.batchSize
        steps = config.train.seqLength
        self.ranks = ranks
        let needed = StreamLayout.minimumTokens(globalRows: globalRows, steps: steps)
        guard trainCount >= needed else {
            throw RNNDistError.input("\(source): \(trainCount) training tokens are too few for train.batch_size \(globalRows) × (train.seq_length \(steps) + 1) = \(needed); use a larger corpus or a smaller batch")
        }
    }

    func trainLayout(rank: Int) -> StreamLayout {
        StreamLayout(tokenCount: trainCount, globalRows: globalRows, steps: steps, rank: rank, ranks: ranks)
    }

    /// Validation streams start after the training tokens; nil when the split is too small for
    /// one batch.
    func validationLayout(rank: Int) -> StreamLayout? {
        guard validationCount >= StreamLayout.minimumTokens(globalRows: globalRows, steps: steps) else { return nil }
        return StreamLayout(tokenCount: validationCount, globalRows: globalRows, steps: steps, rank: rank,
                            ranks: ranks, firstToken: trainCount)
    }

    func trainRange(rank: Int) -> Range<Int> { trainLayout(rank: rank).tokenRange }
    func validationRange(rank: Int) -> Range<Int> { validationLayout(rank: rank)?.tokenRange ?? trainCount..<trainCount }
}

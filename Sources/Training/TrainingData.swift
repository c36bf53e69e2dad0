import Distributed

/// This rank's part of the corpus (`StreamLayout` says how it is cut): the training and validation
/// shards it owns, the layouts that batch them, and the vocabulary shared by every rank.
///
/// From a token file (`rnn-dist prepare`), every rank reads the header and then reads only its
/// own token ranges, a window at a time, as it trains: start-up does not grow with the corpus.
/// From a text, rank 0 scans characters or bytes (vocabulary, token count, checksum, every
/// shard's byte range) and broadcasts the result, and each rank reads and holds its own byte
/// ranges; words are counted by every rank (their ids need the counts of all the text) and
/// each keeps the tokens of its ranges. A generated task is generated whole on every rank (it
/// is small) and sliced the same way.
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
    /// What the data cursor means, for checkpoints and resume.
    public let identity: DataIdentity

    public init(config: Config, communicator: Communicator = SingleProcess()) throws {
        let (rank, ranks) = (communicator.rank, communicator.size)
        try communicator.agree {
            let (B, A) = (config.train.batchSize, config.train.accumulate)
            guard B % (ranks * A) == 0 else {
                guard A > 1 else {
                    throw RNNDistError.input("\(config.source): train.batch_size \(B) does not divide by the \(ranks) ranks; choose a multiple of \(ranks)")
                }
                throw RNNDistError.input("\(config.source): train.batch_size \(B) does not divide by the \(ranks) ranks × train.accumulate \(A) = \(ranks * A) micro-batches; choose a multiple of \(ranks * A)")
            }
        }
        if let task = config.data.synthetic {
            let corpus = task.generate(tokens: config.data.syntheticTokens, seed: UInt64(config.train.seed))
            let checksum = corpus.tokens.withUnsafeBytes { XXH64.hash($0) }
            let identity = DataIdentity(tokenizer: task.rawValue, vocabulary: corpus.vocabulary.count, tokens: corpus.count,
                                        checksum: checksum.checksumText, config: config)
            self = try TrainingData(whole: corpus, description: "synthetic \(task.rawValue)", identity: identity,
                                    config: config, communicator: communicator)
            return
        }
        let path = config.data.path!
        // Rank 0 decides which kind of file it is, so that every rank takes the same path.
        if try communicator.fromRoot({ [TokenFile.isTokenFile(path) ? UInt8(1) : 0] })[0] == 1 {
            self = try TrainingData(tokenFile: path, config: config, communicator: communicator)
            return
        }
        let tokenizer = config.data.tokenizer
        if tokenizer == .word {
            self = try TrainingData(wordText: path, config: config, communicator: communicator)
            return
        }
        // Rank 0: [token count, checksum, symbol count, symbols…, then per rank the byte offsets
        // of its training start/end and validation start/end].
        let index = try communicator.fromRoot {
            let (symbols, count, checksum) = try CorpusFile.scan(path: path, tokenizer: tokenizer)
            let plan = try ShardPlan(tokenCount: count, config: config, ranks: ranks, source: path)
            let boundaries = (0..<ranks).flatMap { r in
                [plan.trainRange(rank: r), plan.validationRange(rank: r)].flatMap { [$0.lowerBound, $0.upperBound] }
            }
            let unique = Array(Set(boundaries)).sorted()
            let offsets = try CorpusFile.byteOffsets(path: path, tokenizer: tokenizer, tokenIndices: unique)
            let offsetOf = Dictionary(uniqueKeysWithValues: zip(unique, offsets))
            return [UInt64(count), checksum, UInt64(symbols.count)] + symbols.map(UInt64.init)
                + boundaries.map { UInt64(offsetOf[$0]!) }
        }
        let count = Int(index[0]), checksum = index[1], symbolCount = Int(index[2])
        let symbols = index[3..<(3 + symbolCount)].map { UInt32($0) }
        let offsets = index[(3 + symbolCount)...].map { Int($0) }
        let mine = Array(offsets[(4 * rank)..<(4 * rank + 4)])
        let plan = try ShardPlan(tokenCount: count, config: config, ranks: ranks, source: path)
        let vocabulary = tokenizer == .byte ? Vocabulary.bytes : Vocabulary(tokenizer: .char, symbols: symbols)
        let trainRange = plan.trainRange(rank: rank), validationRange = plan.validationRange(rank: rank)
        try communicator.agree {
            // The shard's bytes, then its tokens as Int32: 5 bytes per byte read.
            let bytes = (mine[1] - mine[0]) + (mine[3] - mine[2])
            try MemoryBudget.check(perRank: 5 * bytes, ranksOnNode: communicator.ranksOnNode, corpus: path, config: config.source)
        }
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
        identity = DataIdentity(tokenizer: tokenizer.rawValue, vocabulary: vocabulary.count, tokens: count,
                                checksum: checksum.checksumText, config: config)
    }

    /// Throws the first failure of a read from a token file (a damaged block, an I/O error):
    /// reads happen where batches are filled, which cannot throw, so the step checks here.
    public func checkReads() throws {
        try train.checkReads()
        try validation.checkReads()
    }
}

extension TrainingData {
    /// This rank's shard of a corpus that every rank holds whole.
    init(whole corpus: Corpus, description: String, identity: DataIdentity, config: Config,
         communicator: Communicator) throws {
        let (rank, ranks) = (communicator.rank, communicator.size)
        let plan = try communicator.agree {
            try ShardPlan(tokenCount: corpus.count, config: config, ranks: ranks, source: description)
        }
        self.description = description
        self.identity = identity
        vocabulary = corpus.vocabulary
        train = corpus.slice(plan.trainRange(rank: rank))
        validation = corpus.slice(plan.validationRange(rank: rank))
        (trainLayout, validationLayout) = (plan.trainLayout(rank: rank), plan.validationLayout(rank: rank))
        (trainTokenCount, validationTokenCount) = (plan.trainCount, plan.validationCount)
    }

    /// A prepared token file: every rank verifies the header and checks it against the config
    /// (rank 0 also checks that its source text has not changed), then reads its own ranges.
    init(tokenFile path: String, config: Config, communicator: Communicator) throws {
        let (rank, ranks) = (communicator.rank, communicator.size)
        let file = try communicator.agree { () -> TokenFile in
            let file = try TokenFile(path: path)
            try file.check(against: config)
            if rank == 0 { try file.checkSource(config: config.source) }
            return file
        }
        let header = file.header
        let plan = try communicator.agree {
            try ShardPlan(tokenCount: header.tokens, config: config, ranks: ranks, source: path)
        }
        let layout = plan.trainLayout(rank: rank)
        description = path
        vocabulary = file.vocabulary
        train = Corpus(vocabulary: vocabulary, reader: file.reader(range: plan.trainRange(rank: rank), lanes: layout.rows.count))
        validation = Corpus(vocabulary: vocabulary,
                            reader: file.reader(range: plan.validationRange(rank: rank), lanes: layout.rows.count))
        (trainLayout, validationLayout) = (layout, plan.validationLayout(rank: rank))
        (trainTokenCount, validationTokenCount) = (plan.trainCount, plan.validationCount)
        identity = DataIdentity(tokenizer: header.tokenizer, vocabulary: header.vocabulary, tokens: header.tokens,
                                checksum: header.source.checksum, config: config)
    }

    /// A word text: every rank counts the words (the ids are ranks by frequency over all the
    /// text), then tokenizes it again keeping only the tokens of its own ranges.
    init(wordText path: String, config: Config, communicator: Communicator) throws {
        let (rank, ranks) = (communicator.rank, communicator.size)
        let (file, scan, plan) = try communicator.agree {
            let file = try ReadOnlyFile(path)
            let scan = try TextPasses.scan(file, tokenizer: .word, vocabularySize: config.data.vocabSize)
            let plan = try ShardPlan(tokenCount: scan.tokens, config: config, ranks: ranks, source: path)
            return (file, scan, plan)
        }
        let trainRange = plan.trainRange(rank: rank), validationRange = plan.validationRange(rank: rank)
        try communicator.agree {
            try MemoryBudget.check(perRank: 4 * (trainRange.count + validationRange.count),
                                   ranksOnNode: communicator.ranksOnNode, corpus: path, config: config.source)
        }
        var trainTokens: [Int32] = [], validationTokens: [Int32] = []
        trainTokens.reserveCapacity(trainRange.count)
        validationTokens.reserveCapacity(validationRange.count)
        try communicator.agree {
            var index = 0
            try TextPasses.tokenize(file, vocabulary: scan.vocabulary) { ids in
                for id in ids {
                    if trainRange.contains(index) { trainTokens.append(Int32(id)) }
                    else if validationRange.contains(index) { validationTokens.append(Int32(id)) }
                    index += 1
                }
            }
            guard index == scan.tokens else {
                throw RNNDistError.input("\(path): \(index) tokens now, \(scan.tokens) when counted (did the file change?)")
            }
        }
        description = path
        vocabulary = scan.vocabulary
        train = Corpus(vocabulary: vocabulary, tokens: trainTokens, firstToken: trainRange.lowerBound)
        validation = Corpus(vocabulary: vocabulary, tokens: validationTokens, firstToken: validationRange.lowerBound)
        (trainLayout, validationLayout) = (plan.trainLayout(rank: rank), plan.validationLayout(rank: rank))
        (trainTokenCount, validationTokenCount) = (plan.trainCount, plan.validationCount)
        identity = DataIdentity(tokenizer: Tokenizer.word.rawValue, vocabulary: vocabulary.count, tokens: scan.tokens,
                                checksum: scan.checksum.checksumText, config: config)
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

/// What a run's data cursor means: which tokens, split how, cut into which batches. A
/// checkpoint stores it (`Checkpoint.Header.data`) and `--resume` refuses a run whose data
/// differs, naming the key — a cursor counted in one corpus or split points at other tokens in
/// another.
///
/// The checksum is the XXH64 of the text the tokens were made from, which with the tokenizer
/// and vocabulary determines them: it does not depend on the rank count, a text file and the
/// token file prepared from it have the same identity (a run may move from one to the other),
/// and a token file gives it from its header without reading its tokens.
public struct DataIdentity: Codable, Sendable, Equatable {
    /// "char", "byte", "word", or the generated task's name.
    public var tokenizer: String
    /// V.
    public var vocabulary: Int
    /// All tokens, training and validation.
    public var tokens: Int
    /// "xxh64:…" of the source text (of the tokens for a generated task).
    public var checksum: String
    public var valFraction: Double
    public var trainTokens: Int
    public var batchSize: Int
    public var seqLength: Int

    public init(tokenizer: String, vocabulary: Int, tokens: Int, checksum: String, config: Config) {
        self.tokenizer = tokenizer
        self.vocabulary = vocabulary
        self.tokens = tokens
        self.checksum = checksum
        valFraction = config.data.valFraction
        trainTokens = Corpus.trainingCount(tokens, validationFraction: valFraction)
        batchSize = config.train.batchSize
        seqLength = config.train.seqLength
    }

    /// The first difference between the data a checkpoint was trained on (`self`) and this
    /// run's (`other`, from `source`), as "key: theirs …, this run's …"; nil when they match.
    public func difference(from other: DataIdentity, source: String) -> String? {
        if tokenizer != other.tokenizer {
            return "data.tokenizer: the checkpoint was trained on \(tokenizer) tokens, this run reads \(other.tokenizer)"
        }
        if vocabulary != other.vocabulary {
            return "vocabulary: the checkpoint's has V = \(vocabulary), \(source)'s V = \(other.vocabulary)"
        }
        if tokens != other.tokens || checksum != other.checksum {
            return "data.path: the checkpoint was trained on other text (\(tokens) tokens, \(checksum)) than \(source) (\(other.tokens) tokens, \(other.checksum))"
        }
        if valFraction != other.valFraction || trainTokens != other.trainTokens {
            return "data.val_fraction: the checkpoint was trained with \(valFraction) (\(trainTokens) training tokens), this run asks for \(other.valFraction) (\(other.trainTokens))"
        }
        if batchSize != other.batchSize {
            return "train.batch_size: the checkpoint was trained with \(batchSize), this run asks for \(other.batchSize)"
        }
        if seqLength != other.seqLength {
            return "train.seq_length: the checkpoint was trained with \(seqLength), this run asks for \(other.seqLength)"
        }
        return nil
    }
}

import Foundation
import Distributed
import Kernels
import Model

/// A model loaded from a checkpoint — its vocabulary, shape and parameters — for what users do
/// with a trained model: `sample`, `predict` and `eval`. No trainer, no config: the checkpoint
/// says what the model is.
public struct TrainedModel {
    public let path: String
    public let checkpoint: Checkpoint
    public let model: LanguageModel<Float>
    public let parameters: FlatBuffer<Float>

    /// Loads a checkpoint file, or the newest valid checkpoint of a directory; damaged ones
    /// skipped on the way are mentioned on standard error.
    public init(path request: String) throws {
        let (path, checkpoint) = try CheckpointLookup.find(request, option: "--checkpoint") { message in
            FileHandle.standardError.write(Data("rnn-dist: \(message)\n".utf8))
        }
        try self.init(checkpoint: checkpoint, path: path)
    }

    /// The same on every rank of a job: rank 0 reads the checkpoint and hands it on.
    public static func load(_ request: String, on communicator: Communicator) throws -> TrainedModel {
        let (path, checkpoint) = try CheckpointLookup.shared(by: communicator) {
            try CheckpointLookup.find(request, option: "--checkpoint") { message in
                FileHandle.standardError.write(Data("rnn-dist: \(message)\n".utf8))
            }
        }!
        return try communicator.agree { try TrainedModel(checkpoint: checkpoint, path: path) }
    }

    public init(checkpoint: Checkpoint, path: String) throws {
        self.path = path
        self.checkpoint = checkpoint
        model = LanguageModel(shape: checkpoint.shape)
        guard Checkpoint.describe(model.layout) == checkpoint.header.tensors else {
            throw RNNDistError.input("\(path): its tensors \(checkpoint.header.tensors) are not a model this build knows")
        }
        parameters = FlatBuffer(checkpoint.parameters)
    }

    public var vocabulary: Vocabulary { checkpoint.vocabulary }

    /// The tokens of `text`; a character outside the vocabulary is an input error naming `what`.
    public func encode(_ text: String, what: String) throws -> [Int32] {
        switch vocabulary.encode(text) {
        case .success(let tokens): return tokens
        case .failure(let error): throw RNNDistError.input("\(what): \(error.message)")
        }
    }

    /// What to generate: `count` samples of `length` tokens after `prime`, drawn as `decoding`
    /// says from seed `seed`, or with `beam` set, the `count` best hypotheses of a beam search
    /// of that width; each ended early at the first of `stops` in its generated text.
    public struct SampleRequest: Sendable {
        public var prime: String
        public var length: Int
        public var count: Int
        public var decoding: Decoding
        public var beam: Int?
        public var seed: UInt64
        public var stops: [String]

        public init(prime: String = "", length: Int, count: Int = 1, decoding: Decoding = .sample(temperature: 1, topK: nil),
                    beam: Int? = nil, seed: UInt64 = 1, stops: [String] = []) {
            (self.prime, self.length, self.count, self.decoding) = (prime, length, count, decoding)
            (self.beam, self.seed, self.stops) = (beam, seed, stops)
        }
    }

    /// What one sample came to: the tokens printed, their total log-probability under the
    /// model (natural log, the prime excluded) and whether a stop text ended it.
    public struct SampleSummary: Sendable, Equatable {
        public var tokens: Int
        public var logprob: Double
        public var stopped: Bool
    }

    /// The text `sample` starts from: `prime` as the model's tokenizer renders it (a word
    /// model's text is lower-cased and re-spaced; char and byte text is unchanged).
    public func primeText(_ prime: String) throws -> String {
        vocabulary.decode(try encode(prime, what: "--prime"))
    }

    /// How many samples `request` yields: `count`, or for a beam search of a short length,
    /// the number of distinct continuations when there are fewer (V^length).
    public func sampleCount(_ request: SampleRequest) -> Int {
        guard request.beam != nil else { return request.count }
        var continuations = 1
        for _ in 0..<request.length where continuations < request.count {
            continuations = continuations.multipliedReportingOverflow(by: vocabulary.count).overflow ? .max : continuations * vocabulary.count
        }
        return min(request.count, continuations)
    }

    /// Generates the samples of `request`, handing each one's bytes to `text(sample, bytes)` as
    /// soon as they are known (samples are drawn side by side, one batched step a token; a
    /// beam search's as it ends), and returns what each came to. With no prime the model starts
    /// from the vocabulary's start token, which is not printed. Sample i draws from its own
    /// random stream, seeded from (seed, i); sample 0's from `seed` itself.
    public func sample(_ request: SampleRequest, text: (_ sample: Int, _ bytes: [UInt8]) throws -> Void) throws -> [SampleSummary] {
        let primeTokens = try encode(request.prime, what: "--prime")
        let start = primeTokens.isEmpty ? [vocabulary.startToken] : primeTokens
        var samples = Array(repeating: SampleText(vocabulary: vocabulary, prime: primeTokens, stops: request.stops),
                            count: sampleCount(request))
        func take(_ sample: Int, _ bytes: [UInt8]) throws { if !bytes.isEmpty { try text(sample, bytes) } }
        if let width = request.beam {
            let beams = Sampler(model: model, parameters: parameters, rows: width).beamSearch(prime: start, length: request.length)
            for (i, beam) in beams.prefix(samples.count).enumerated() {
                for (token, logprob) in zip(beam.tokens, beam.logprobs) where !samples[i].stopped {
                    try take(i, samples[i].append(token, logprob: logprob))
                }
                try take(i, samples[i].finish())
            }
        } else {
            var random = samples.indices.map { RandomSource(seed: Self.seed(request.seed, sample: $0)) }
            try Sampler(model: model, parameters: parameters, rows: samples.count)
                .generate(prime: start, length: request.length, decoding: request.decoding, random: &random) { row, token, logprob in
                    try take(row, samples[row].append(token, logprob: logprob))
                    return !samples[row].stopped
                }
            for i in samples.indices { try take(i, samples[i].finish()) }
        }
        return samples.map { SampleSummary(tokens: $0.tokens, logprob: $0.logprob, stopped: $0.stopped) }
    }

    /// The seed of sample i's random stream: `seed` for the first, then mixed (SplitMix64 of
    /// seed ⊕ i·odd constant), so that streams do not overlap.
    static func seed(_ seed: UInt64, sample: Int) -> UInt64 {
        guard sample > 0 else { return seed }
        var mix = RandomSource(seed: seed ^ (UInt64(sample) &* 0xD1B5_4A32_D192_ED03))
        return mix.next()
    }

    /// The log-probability of every next token after `text`, by the model's softmax (V).
    public func nextTokenLogProbabilities(after text: String) throws -> [Double] {
        let tokens = try encode(text, what: "--text")
        guard !tokens.isEmpty else { throw RNNDistError.input("--text: give at least one character") }
        return Sampler<Float>.logSoftmax(Sampler(model: model, parameters: parameters).start(prime: tokens)[...])
    }

    /// The probability of every next token after `text`, by the model's softmax (V).
    public func nextTokenProbabilities(after text: String) throws -> [Double] {
        try nextTokenLogProbabilities(after: text).map { Foundation.exp($0) }
    }

    /// The mean validation loss of this model on `data` (the config's data settings), all
    /// ranks together; nil when the split is smaller than one batch. The data must have been
    /// tokenized with the model's vocabulary.
    public func validationLoss(on data: TrainingData, communicator: Communicator, threads: Int) throws -> Double? {
        try communicator.agree {
            guard data.vocabulary == vocabulary else {
                throw RNNDistError.input("\(path): the checkpoint's vocabulary (\(vocabulary.tokenizer.rawValue), V = \(vocabulary.count)) differs from the data's (\(data.description): \(data.vocabulary.tokenizer.rawValue), V = \(data.vocabulary.count))")
            }
        }
        return try Evaluator(model: model, data: data, communicator: communicator, threads: threads)?.loss(parameters: parameters)
    }
}

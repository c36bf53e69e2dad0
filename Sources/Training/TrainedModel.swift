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

    /// `length` tokens of text after `prime` (the prime included in the result). With no prime
    /// the model starts from the vocabulary's start token, which is not printed.
    public func sample(prime: String, length: Int, temperature: Double, topK: Int?, greedy: Bool, seed: UInt64) throws -> String {
        let primeTokens = try encode(prime, what: "--prime")
        let start = primeTokens.isEmpty ? [vocabulary.startToken] : primeTokens
        var random = RandomSource(seed: seed)
        let generated = Sampler(model: model, parameters: parameters)
            .generate(prime: start, length: length, temperature: temperature, topK: topK, greedy: greedy, random: &random)
        return vocabulary.decode(primeTokens + generated)
    }

    /// The probability of every next token after `text`, by the model's softmax.
    public func nextTokenProbabilities(after text: String) throws -> [Double] {
        let tokens = try encode(text, what: "--text")
        guard !tokens.isEmpty else { throw RNNDistError.input("--text: give at least one character") }
        let sampler = Sampler(model: model, parameters: parameters)
        var logits: [Float] = []
        for token in tokens { logits = sampler.feed(token) }
        return Sampler<Float>.probabilities(logits)
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

import Foundation
import Model
import Kernels

/// A model loaded from a checkpoint for inference: sampling and next-token prediction.
public struct TrainedModel {
    public let path: String
    public let checkpoint: Checkpoint
    public let model: LanguageModel<Float>
    public let parameters: FlatBuffer<Float>

    /// Loads a checkpoint file, or the newest valid checkpoint of a directory.
    public init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw RNNDistError.input("--checkpoint \(path): no such checkpoint file or directory")
        }
        if isDirectory.boolValue {
            var skipped: [String] = []
            guard let found = CheckpointStore(directory: path, keep: .max).newestValid(report: { skipped.append($0) }) else {
                throw RNNDistError.input("--checkpoint \(path): no valid checkpoint in that directory")
            }
            for message in skipped { FileHandle.standardError.write(Data("rnn-dist: \(message)\n".utf8)) }
            (self.path, checkpoint) = found
        } else {
            self.path = path
            checkpoint = try Checkpoint.load(path: path)
        }
        model = LanguageModel(shape: checkpoint.shape)
        guard Checkpoint.describe(model.layout) == checkpoint.header.tensors else {
            throw RNNDistError.input("\(self.path): its tensors \(checkpoint.header.tensors) are not a model this build knows")
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
}

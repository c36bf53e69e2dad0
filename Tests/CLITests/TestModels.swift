import Foundation
import Model
import Training

/// Small models written as checkpoints in no time (no training): seeded initial weights,
/// scaled up so that the cells leave their linear range and the softmax is far from uniform.
enum TestModels {
    /// A char vocabulary with one-, two-, three- and four-byte UTF-8 characters and a newline.
    static let chars = Vocabulary(tokenizer: .char, symbols: Array("\n abcdefghij.,é€😀".unicodeScalars.map(\.value)))
    static let words = Vocabulary(words: ["<unk>", "<s>", "</s>", "the", "cat", "sat", "on", "mat", ".", ",", "a", "dog"])

    /// Writes a checkpoint of a model of this shape at `path` and returns it loaded.
    @discardableResult
    static func write(to path: String, cell: CellType = .rnn, activation: Activation = .tanh, hidden: Int = 12,
                      layers: Int = 1, vocabulary: Vocabulary = chars, scale: Float = 2.5, seed: UInt64 = 7) throws -> TrainedModel {
        let model = LanguageModel<Float>(shape: ModelShape(vocabulary: vocabulary.count, hidden: hidden, activation: activation,
                                                           cell: cell, layers: layers))
        let parameters = FlatBuffer<Float>(count: model.layout.count)
        model.initialize(parameters, seed: seed)
        var random = RandomSource(seed: seed ^ 0x5EED)
        for tensor in model.layout.tensors where tensor.shape.count == 1 {   // biases: not all zero
            for i in 0..<tensor.count { parameters.view(tensor)[i] = Float(random.nextUnit() - 0.5) }
        }
        for i in 0..<parameters.count { parameters[i] *= scale }
        let position = Checkpoint.RunPosition(step: 0, epoch: 1, chunk: 0, batchSize: 1, seqLength: 1, random: 0,
                                              intervalNats: 0, intervalTokens: 0, intervalSteps: 0,
                                              lastValidationLoss: nil, bestValidationLoss: nil)
        let header = Checkpoint.Header(config: "{}", vocabulary: vocabulary, model: model, position: position,
                                       optimizer: .init(kind: "sgd", steps: 0, learningRate: 0.1, stateCount: 0), stateCount: 0)
        let checkpoint = Checkpoint(header: header, parameters: parameters.array, optimizerState: [], hiddenState: [])
        try checkpoint.encoded().write(to: URL(fileURLWithPath: path))
        return try TrainedModel(path: path)
    }
}

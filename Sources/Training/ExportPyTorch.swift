import Foundation
import Model

/// A trained model as PyTorch's modules hold it, for `rnn-dist export`:
///
///     encoder = nn.Embedding(V, G)      encoder.weight (V, G) = We, the first layer's gathered input weights
///     rnn = nn.RNN / nn.LSTM / nn.GRU(input_size=G, hidden_size=H, num_layers=L)
///     decoder = nn.Linear(H, V)         decoder.weight (V, H) = U, decoder.bias (V) = b2
///
/// Our first layer adds the embedding row We[x] to its gates directly; PyTorch's multiplies
/// its input by weight_ih_l0, so that is the G×G identity and the embedding's width is G.
/// The gate order is the same in both (lstm [i, f, g, o], gru [r, z, n]). We have one bias
/// where PyTorch has two that it adds together, so b goes to bias_ih and bias_hh is zero —
/// except the GRU's n block, where PyTorch's bias_hh sits inside the reset gate's product,
/// r ⊙ (W_hn h + b_hn): exactly our b_hn. The function is unchanged, to rounding.
public enum PyTorchExport {
    /// The torch.nn class computing `shape`'s layers, or nil (the sigmoid RNN: nn.RNN's
    /// nonlinearity is tanh or relu).
    public static func module(for shape: ModelShape) -> String? {
        switch shape.cell {
        case .lstm: return "LSTM"
        case .gru: return "GRU"
        case .rnn: return shape.activation == .sigmoid ? nil : "RNN"
        }
    }

    /// The tensors, named as `ModuleDict({"encoder", "rnn", "decoder"}).state_dict()` names them.
    public static func tensors(of trained: TrainedModel) -> [SafeTensors.Tensor] {
        let model = trained.model
        let (H, G) = (model.shape.hidden, model.shape.cell.gates * model.shape.hidden)
        func values(_ spec: TensorSpec) -> [Float] {
            Array(UnsafeBufferPointer(start: trained.parameters.view(spec), count: spec.count))
        }
        var tensors: [SafeTensors.Tensor] = []
        for (l, layer) in model.layers.enumerated() {
            if l == 0 {
                tensors.append(.init(name: "encoder.weight", shape: layer.inputWeight.shape, values: values(layer.inputWeight)))
                var identity = [Float](repeating: 0, count: G * G)
                for i in 0..<G { identity[i * G + i] = 1 }
                tensors.append(.init(name: "rnn.weight_ih_l0", shape: [G, G], values: identity))
            } else {
                tensors.append(.init(name: "rnn.weight_ih_l\(l)", shape: layer.inputWeight.shape, values: values(layer.inputWeight)))
            }
            tensors.append(.init(name: "rnn.weight_hh_l\(l)", shape: layer.recurrentWeight.shape, values: values(layer.recurrentWeight)))
            tensors.append(.init(name: "rnn.bias_ih_l\(l)", shape: [G], values: values(layer.bias)))
            var recurrentBias = [Float](repeating: 0, count: G)
            if let bhn = layer.recurrentBias { recurrentBias.replaceSubrange((2 * H)..<(3 * H), with: values(bhn)) }
            tensors.append(.init(name: "rnn.bias_hh_l\(l)", shape: [G], values: recurrentBias))
        }
        tensors.append(.init(name: "decoder.weight", shape: model.output.weight.shape, values: values(model.output.weight)))
        tensors.append(.init(name: "decoder.bias", shape: model.output.bias.shape, values: values(model.output.bias)))
        return tensors
    }

    /// What a loader needs besides the tensors, as safetensors' string-to-string metadata: the
    /// module to build and its sizes, and the tokenizer with its vocabulary in token order (a
    /// JSON array: characters or words as strings, bytes as numbers).
    public static func metadata(of trained: TrainedModel) -> [String: String] {
        let shape = trained.model.shape
        let vocabulary = trained.vocabulary
        let symbols: [Any]
        switch vocabulary.tokenizer {
        case .char: symbols = vocabulary.symbols.map { String(Character(Unicode.Scalar($0)!)) }
        case .byte: symbols = vocabulary.symbols.map { Int($0) }
        case .word: symbols = vocabulary.words
        }
        let vocabularyJSON = try! JSONSerialization.data(withJSONObject: symbols, options: [.withoutEscapingSlashes])
        var metadata = [
            "format": "pt",
            "producer": "rnn-dist",
            "pytorch_module": module(for: shape) ?? "none",
            "cell": shape.cell.rawValue,
            "vocab_size": String(shape.vocabulary),
            "input_size": String(shape.cell.gates * shape.hidden),
            "hidden_size": String(shape.hidden),
            "num_layers": String(shape.layers),
            "tokenizer": vocabulary.tokenizer.rawValue,
            "vocabulary": String(decoding: vocabularyJSON, as: UTF8.self),
            "start_token": String(vocabulary.startToken),
            "step": String(trained.checkpoint.header.step),
        ]
        if shape.cell == .rnn {
            metadata["activation"] = shape.activation.rawValue
            if shape.activation == .sigmoid {
                metadata["note"] = "a sigmoid RNN, h = sigmoid(W_ih x + b_ih + W_hh h + b_hh): torch.nn has no module for it (nn.RNN's nonlinearity is tanh or relu)"
            } else {
                metadata["nonlinearity"] = shape.activation.rawValue
            }
        }
        return metadata
    }
}

import ArgumentParser
import Foundation
import Distributed
import Training

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's model as safetensors, named and shaped for PyTorch.",
        discussion: """
            The tensors load into ModuleDict(encoder=nn.Embedding(V, G), rnn=nn.RNN/LSTM/GRU(G, H, L), \
            decoder=nn.Linear(H, V)) with load_state_dict; the metadata names the module, the sizes, the \
            tokenizer and the vocabulary. A sigmoid RNN, which no torch.nn module computes, is exported with \
            pytorch_module "none".
            """)

    @Option(help: "A checkpoint file or directory.")
    var checkpoint: String
    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The file to write.", valueName: "FILE.safetensors"))
    var output: String

    func run() throws {
        Launch.runJob(on: SingleProcess()) {
            let model = try TrainedModel(path: checkpoint)
            let tensors = PyTorchExport.tensors(of: model)
            try SafeTensors.write(tensors, metadata: PyTorchExport.metadata(of: model), to: output)
            let shape = model.model.shape
            let module = PyTorchExport.module(for: shape).map { "nn.\($0)" } ?? "no torch.nn module (sigmoid RNN)"
            let scalars = tensors.reduce(0) { $0 + $1.values.count }
            print("\(output): \(module), \(shape.layers) layer(s), H = \(shape.hidden), V = \(shape.vocabulary); \(tensors.count) tensors, \(scalars) floats")
        }
    }
}

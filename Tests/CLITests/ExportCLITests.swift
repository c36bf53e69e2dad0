import XCTest
import Model
import Training
import TestSupport

/// `rnn-dist export`: the safetensors file read back by hand (header, names, shapes, offsets,
/// values), and the function its tensors compute under PyTorch's own equations (as torch.nn's
/// documentation writes them) against `predict`.
final class ExportCLITests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try TestPaths.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    struct Tensor { var shape: [Int]; var values: [Double] }

    /// Parses a safetensors file without the writer's code: checks the header length, the
    /// alignment, the dtype, that each tensor's byte range fits its shape and that the ranges
    /// tile the data exactly, in order.
    func read(_ data: Data) throws -> (tensors: [String: Tensor], metadata: [String: String], order: [String]) {
        let headerLength = Int(data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        XCTAssertEqual(headerLength % 8, 0, "the data starts 8-byte aligned")
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as? [String: Any])
        let metadata = try XCTUnwrap(header["__metadata__"] as? [String: String])
        let body = data.subdata(in: (8 + headerLength)..<data.count)
        var tensors: [String: Tensor] = [:]
        var ranges: [(begin: Int, end: Int, name: String)] = []
        for (name, entry) in header where name != "__metadata__" {
            let entry = try XCTUnwrap(entry as? [String: Any])
            XCTAssertEqual(entry["dtype"] as? String, "F32")
            let shape = try XCTUnwrap(entry["shape"] as? [Int])
            let offsets = try XCTUnwrap(entry["data_offsets"] as? [Int])
            XCTAssertEqual(offsets[1] - offsets[0], 4 * shape.reduce(1, *), name)
            let values = stride(from: offsets[0], to: offsets[1], by: 4).map { i in
                Double(Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(body[i + $1]) << (8 * UInt32($1)) }))
            }
            tensors[name] = Tensor(shape: shape, values: values)
            ranges.append((offsets[0], offsets[1], name))
        }
        ranges.sort { $0.begin < $1.begin }
        XCTAssertEqual(ranges.first?.begin, 0)
        for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.end, b.begin, "\(a.name) and \(b.name) tile the data") }
        XCTAssertEqual(ranges.last?.end, body.count)
        return (tensors, metadata, ranges.map(\.name))
    }

    /// The next-token probabilities of nn.Embedding → nn.RNN/LSTM/GRU → nn.Linear after `tokens`,
    /// by the equations of torch.nn's documentation (gates i, f, g, o and r, z, n; the GRU's
    /// n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))), in Double.
    func pytorchProbabilities(_ t: [String: Tensor], cell: String, nonlinearity: String, layers: Int, tokens: [Int32]) -> [Double] {
        let H = t["rnn.weight_hh_l0"]!.shape[1]
        func affine(_ w: Tensor, _ x: [Double], _ b: Tensor) -> [Double] {
            (0..<w.shape[0]).map { i in b.values[i] + (0..<w.shape[1]).reduce(0) { $0 + w.values[i * w.shape[1] + $1] * x[$1] } }
        }
        let σ = { (x: Double) in 1 / (1 + Foundation.exp(-x)) }
        let f: (Double) -> Double = nonlinearity == "relu" ? { max($0, 0) } : nonlinearity == "sigmoid" ? σ : { Foundation.tanh($0) }
        var h = [[Double]](repeating: [Double](repeating: 0, count: H), count: layers), c = h
        for token in tokens {
            let embedding = t["encoder.weight"]!
            var x = Array(embedding.values[(Int(token) * embedding.shape[1])..<((Int(token) + 1) * embedding.shape[1])])
            for l in 0..<layers {
                let gi = affine(t["rnn.weight_ih_l\(l)"]!, x, t["rnn.bias_ih_l\(l)"]!)
                let gh = affine(t["rnn.weight_hh_l\(l)"]!, h[l], t["rnn.bias_hh_l\(l)"]!)
                switch cell {
                case "lstm":
                    for j in 0..<H {
                        let (i, fg, g, o) = (σ(gi[j] + gh[j]), σ(gi[H + j] + gh[H + j]),
                                             Foundation.tanh(gi[2 * H + j] + gh[2 * H + j]), σ(gi[3 * H + j] + gh[3 * H + j]))
                        c[l][j] = fg * c[l][j] + i * g
                        h[l][j] = o * Foundation.tanh(c[l][j])
                    }
                case "gru":
                    for j in 0..<H {
                        let (r, z) = (σ(gi[j] + gh[j]), σ(gi[H + j] + gh[H + j]))
                        let n = Foundation.tanh(gi[2 * H + j] + r * gh[2 * H + j])
                        h[l][j] = (1 - z) * n + z * h[l][j]
                    }
                default:
                    h[l] = (0..<H).map { f(gi[$0] + gh[$0]) }
                }
                x = h[l]
            }
        }
        let logits = affine(t["decoder.weight"]!, h[layers - 1], t["decoder.bias"]!)
        let peak = logits.max()!
        let exps = logits.map { Foundation.exp($0 - peak) }
        return exps.map { $0 / exps.reduce(0, +) }
    }

    func testExportedTensorsAreTheModelAsPyTorchModulesHoldIt() throws {
        let models: [(CellType, Activation, Int, String?)] = [
            (.rnn, .tanh, 1, "RNN"), (.rnn, .relu, 2, "RNN"), (.rnn, .sigmoid, 1, nil),
            (.lstm, .tanh, 1, "LSTM"), (.lstm, .tanh, 2, "LSTM"), (.gru, .tanh, 1, "GRU"), (.gru, .tanh, 3, "GRU"),
        ]
        for (cell, activation, layers, module) in models {
            let name = "\(cell)-\(activation)-\(layers)"
            let checkpoint = directory.appendingPathComponent("\(name).rnnd").path
            let output = directory.appendingPathComponent("\(name).safetensors").path
            let model = try TestModels.write(to: checkpoint, cell: cell, activation: activation, hidden: 10, layers: layers, scale: 1.5)
            let result = try runProcess(TestPaths.executable, ["export", "--checkpoint", checkpoint, "--output", output], timeout: 60)
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.stdout.hasPrefix("\(output): " + (module.map { "nn.\($0)" } ?? "no torch.nn module")), result.stdout)

            let (tensors, metadata, order) = try read(try Data(contentsOf: URL(fileURLWithPath: output)))
            let (V, H, G) = (TestModels.chars.count, 10, cell.gates * 10)
            var expectedOrder = ["encoder.weight"]
            for l in 0..<layers { expectedOrder += ["weight_ih", "weight_hh", "bias_ih", "bias_hh"].map { "rnn.\($0)_l\(l)" } }
            XCTAssertEqual(order, expectedOrder + ["decoder.weight", "decoder.bias"], name)
            XCTAssertEqual(tensors["encoder.weight"]?.shape, [V, G])
            XCTAssertEqual(tensors["rnn.weight_ih_l0"]?.shape, [G, G])
            for l in 1..<max(layers, 1) { XCTAssertEqual(tensors["rnn.weight_ih_l\(l)"]?.shape, [G, H]) }
            for l in 0..<layers {
                XCTAssertEqual(tensors["rnn.weight_hh_l\(l)"]?.shape, [G, H])
                XCTAssertEqual(tensors["rnn.bias_ih_l\(l)"]?.shape, [G])
                XCTAssertEqual(tensors["rnn.bias_hh_l\(l)"]?.shape, [G])
            }
            XCTAssertEqual(tensors["decoder.weight"]?.shape, [V, H])
            XCTAssertEqual(tensors["decoder.bias"]?.shape, [V])

            // The values: ours, the identity, and the biases split as PyTorch adds them.
            let ours = { (tensor: String) in model.model.layout[tensor].map { spec in
                Array(UnsafeBufferPointer(start: model.parameters.view(spec), count: spec.count)).map(Double.init) }! }
            XCTAssertEqual(tensors["encoder.weight"]?.values, ours("We"))
            XCTAssertEqual(tensors["rnn.weight_ih_l0"]?.values, (0..<(G * G)).map { $0 / G == $0 % G ? 1 : 0 })
            for l in 0..<layers {
                let suffix = l == 0 ? "" : ".\(l + 1)"
                if l > 0 { XCTAssertEqual(tensors["rnn.weight_ih_l\(l)"]?.values, ours("Wx" + suffix)) }
                XCTAssertEqual(tensors["rnn.weight_hh_l\(l)"]?.values, ours("Wh" + suffix))
                XCTAssertEqual(tensors["rnn.bias_ih_l\(l)"]?.values, ours(l == 0 ? "b1" : "b" + suffix))
                let recurrentBias = cell == .gru ? [Double](repeating: 0, count: 2 * H) + ours("bhn" + suffix) : [Double](repeating: 0, count: G)
                XCTAssertEqual(tensors["rnn.bias_hh_l\(l)"]?.values, recurrentBias)
            }
            XCTAssertEqual(tensors["decoder.weight"]?.values, ours("U"))
            XCTAssertEqual(tensors["decoder.bias"]?.values, ours("b2"))

            XCTAssertEqual(metadata["format"], "pt")
            XCTAssertEqual(metadata["pytorch_module"], module ?? "none")
            XCTAssertEqual(metadata["cell"], cell.rawValue)
            XCTAssertEqual(metadata["nonlinearity"], module == "RNN" ? activation.rawValue : nil)
            XCTAssertEqual(metadata["activation"], cell == .rnn ? activation.rawValue : nil)
            XCTAssertEqual(module == nil, metadata["note"]?.contains("no module") ?? false, metadata["note"] ?? "")
            XCTAssertEqual(metadata["vocab_size"], "\(V)")
            XCTAssertEqual(metadata["input_size"], "\(G)")
            XCTAssertEqual(metadata["hidden_size"], "\(H)")
            XCTAssertEqual(metadata["num_layers"], "\(layers)")
            XCTAssertEqual(metadata["tokenizer"], "char")
            let vocabulary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(metadata["vocabulary"]!.utf8)) as? [String])
            XCTAssertEqual(vocabulary, (0..<V).map { TestModels.chars.decode([Int32($0)]) })

            // What PyTorch's equations compute from the file is what predict prints.
            let text = "abc é€😀\nja"
            let tokens = try model.encode(text, what: "text")
            let theirs = pytorchProbabilities(tensors, cell: cell.rawValue, nonlinearity: activation.rawValue, layers: layers, tokens: tokens)
            let predicted = try model.nextTokenProbabilities(after: text)
            let worst = zip(theirs, predicted).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-5, name)
        }
    }

    func testExportRefusesWhatItCannotWriteInOneLine() throws {
        let checkpoint = directory.appendingPathComponent("m.rnnd").path
        try TestModels.write(to: checkpoint, vocabulary: .bytes)
        for (arguments, fragment) in [(["--checkpoint", checkpoint, "--output", "/no/such/dir/m.safetensors"], "/no/such/dir/m.safetensors: no such directory"),
                                      (["--checkpoint", "missing.rnnd", "--output", "x.safetensors"], "missing.rnnd"),
                                      (["--checkpoint", checkpoint], "--output")] {
            let result = try runProcess(TestPaths.executable, ["export"] + arguments, directory: directory, timeout: 60)
            XCTAssertEqual(result.status, 2, result.stderr)
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
            XCTAssertTrue(result.stderr.contains(fragment), result.stderr)
        }
        let bytes = directory.appendingPathComponent("bytes.safetensors").path
        let result = try runProcess(TestPaths.executable, ["export", "--checkpoint", checkpoint, "-o", bytes], timeout: 60)
        XCTAssertEqual(result.status, 0, result.stderr)
        let metadata = try read(try Data(contentsOf: URL(fileURLWithPath: bytes))).metadata
        XCTAssertEqual(metadata["vocabulary"], "[" + (0...255).map(String.init).joined(separator: ",") + "]", "bytes as numbers")
    }
}

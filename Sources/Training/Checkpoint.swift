import Foundation
import Model
import Kernels  // Float: KernelScalar, for LanguageModel<Float>

/// Everything needed to continue a run exactly where it stopped, or to sample from
/// its model.
///
/// On disk, little-endian:
///
///     "RNNDCKPT" | version: UInt32 | header length: UInt32 | header (JSON, UTF-8)
///     | parameters: Float × n | optimizer state: Float × (slots·n) | hidden state: Float × (B·W)
///     | FNV-1a 64 of every byte before it: UInt64
///
/// The header holds the config, vocabulary, model shape, parameter layout, step, data cursor,
/// RNG state and logging accumulators; the hidden state is the whole global batch's, so a run
/// may resume on another rank count that divides the batch.
public struct Checkpoint: Sendable {
    public static let magic = Array("RNNDCKPT".utf8)
    public static let version: UInt32 = 1

    public struct Header: Codable, Sendable, Equatable {
        public var config: String              // the config document (JSON text)
        public var tokenizer: String
        public var symbols: [UInt32]           // the vocabulary (char, byte)
        public var words: [String]?            // the vocabulary (word)
        public var cell: String
        public var activation: String
        public var hidden: Int
        public var layers: Int
        public var tensors: [String]           // "name:d0xd1" in layout order
        public var step: Int                   // optimizer steps taken
        public var epoch: Int                  // the epoch of the next step (1-based)
        public var chunk: Int                  // the next chunk of that epoch (the data cursor)
        public var batchSize: Int
        public var seqLength: Int
        public var random: UInt64              // RandomSource state (rank 0's samples during training)
        public var intervalNats: Double        // logging accumulators since the last log line
        public var intervalTokens: Double
        public var intervalSteps: Int
        public var optimizer: String
        public var optimizerSteps: Int
        public var learningRate: Double
        public var optimizerStateCount: Int
        public var lastValidationLoss: Double?
        public var bestValidationLoss: Double?
        public var parameterCount: Int
        public var stateCount: Int
        /// What the data cursor means (`DataIdentity`); nil in checkpoints written before it was recorded.
        public var data: DataIdentity?

        /// The header of a checkpoint of `model`, trained on `vocabulary`, at `position`.
        public init(config: String, vocabulary: Vocabulary, model: LanguageModel<Float>, position: RunPosition,
                    optimizer: OptimizerRecord, stateCount: Int, data: DataIdentity? = nil) {
            self.config = config
            (tokenizer, symbols) = (vocabulary.tokenizer.rawValue, vocabulary.symbols)
            words = vocabulary.tokenizer == .word ? vocabulary.words : nil
            (cell, activation) = (model.shape.cell.rawValue, model.shape.activation.rawValue)
            (hidden, layers, tensors) = (model.shape.hidden, model.shape.layers, Checkpoint.describe(model.layout))
            parameterCount = model.layout.count
            (step, epoch, chunk) = (position.step, position.epoch, position.chunk)
            (batchSize, seqLength, random) = (position.batchSize, position.seqLength, position.random)
            (intervalNats, intervalTokens, intervalSteps) = (position.intervalNats, position.intervalTokens, position.intervalSteps)
            (lastValidationLoss, bestValidationLoss) = (position.lastValidationLoss, position.bestValidationLoss)
            (self.optimizer, optimizerSteps, learningRate) = (optimizer.kind, optimizer.steps, optimizer.learningRate)
            optimizerStateCount = optimizer.stateCount
            self.stateCount = stateCount
            self.data = data
        }

        public var position: RunPosition {
            RunPosition(step: step, epoch: epoch, chunk: chunk, batchSize: batchSize, seqLength: seqLength,
                        random: random, intervalNats: intervalNats, intervalTokens: intervalTokens,
                        intervalSteps: intervalSteps, lastValidationLoss: lastValidationLoss,
                        bestValidationLoss: bestValidationLoss)
        }

        public var optimizerRecord: OptimizerRecord {
            OptimizerRecord(kind: optimizer, steps: optimizerSteps, learningRate: learningRate, stateCount: optimizerStateCount)
        }
    }

    /// Where a run stood: the step, the data cursor and the batch shape it counts in, the
    /// sampling RNG, the logging sums since the last log line and the validation history.
    public struct RunPosition: Sendable, Equatable {
        public var step: Int                   // optimizer steps taken
        public var epoch: Int                  // the epoch of the next step (1-based)
        public var chunk: Int                  // the next chunk of that epoch
        public var batchSize: Int
        public var seqLength: Int
        public var random: UInt64
        public var intervalNats: Double
        public var intervalTokens: Double
        public var intervalSteps: Int
        public var lastValidationLoss: Double?
        public var bestValidationLoss: Double?

        public init(step: Int, epoch: Int, chunk: Int, batchSize: Int, seqLength: Int, random: UInt64,
                    intervalNats: Double, intervalTokens: Double, intervalSteps: Int,
                    lastValidationLoss: Double?, bestValidationLoss: Double?) {
            (self.step, self.epoch, self.chunk, self.batchSize, self.seqLength) = (step, epoch, chunk, batchSize, seqLength)
            (self.random, self.intervalNats, self.intervalTokens, self.intervalSteps) = (random, intervalNats, intervalTokens, intervalSteps)
            (self.lastValidationLoss, self.bestValidationLoss) = (lastValidationLoss, bestValidationLoss)
        }
    }

    /// The optimizer's part: its rule, step count (Adam's bias correction), the learning rate
    /// the schedule had reached, and how many scalars of state follow the parameters.
    public struct OptimizerRecord: Sendable, Equatable {
        public var kind: String
        public var steps: Int
        public var learningRate: Double
        public var stateCount: Int

        public init(kind: String, steps: Int, learningRate: Double, stateCount: Int) {
            (self.kind, self.steps, self.learningRate, self.stateCount) = (kind, steps, learningRate, stateCount)
        }
    }

    public var header: Header
    public var parameters: [Float]
    public var optimizerState: [Float]
    public var hiddenState: [Float]            // (B, stateWidth) of the global batch

    public init(header: Header, parameters: [Float], optimizerState: [Float], hiddenState: [Float]) {
        self.header = header
        self.parameters = parameters
        self.optimizerState = optimizerState
        self.hiddenState = hiddenState
    }

    public var vocabulary: Vocabulary {
        if let words = header.words { return Vocabulary(words: words) }
        return Vocabulary(tokenizer: Tokenizer(rawValue: header.tokenizer) ?? .char, symbols: header.symbols)
    }

    public var shape: ModelShape {
        ModelShape(vocabulary: vocabulary.count, hidden: header.hidden,
                   activation: Activation(rawValue: header.activation) ?? .tanh,
                   cell: CellType(rawValue: header.cell) ?? .rnn, layers: header.layers)
    }

    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try! encoder.encode(header)
        var data = Data(Self.magic)
        append(Self.version, to: &data)
        append(UInt32(json.count), to: &data)
        data.append(json)
        for values in [parameters, optimizerState, hiddenState] {
            values.withUnsafeBufferPointer { data.append($0) }
        }
        let checksum = data.withUnsafeBytes { fnv1a($0) }
        append(checksum, to: &data)
        return data
    }

    /// Parses and verifies a checkpoint; every defect is an input error naming `path`.
    public static func decode(_ data: Data, path: String) throws -> Checkpoint {
        func corrupt(_ why: String) -> RNNDistError { .input("\(path): not a usable checkpoint (\(why))") }
        guard data.count >= 24, Array(data.prefix(8)) == magic else { throw corrupt("bad magic number") }
        let version: UInt32 = read(data, at: 8)
        guard version == Self.version else { throw corrupt("format version \(version); this build reads \(Self.version)") }
        let stored: UInt64 = read(data, at: data.count - 8)
        let actual = data.withUnsafeBytes { fnv1a(UnsafeRawBufferPointer(rebasing: $0[..<(data.count - 8)])) }
        guard stored == actual else { throw corrupt("checksum mismatch: truncated or damaged") }
        let headerLength = Int(read(data, at: 12) as UInt32)
        guard 16 + headerLength <= data.count - 8 else { throw corrupt("header runs past the end") }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: data.subdata(in: 16..<(16 + headerLength)))
        } catch {
            throw corrupt("unreadable header")
        }
        let counts = [header.parameterCount, header.optimizerStateCount, header.stateCount]
        guard 16 + headerLength + counts.reduce(0, +) * 4 + 8 == data.count else { throw corrupt("wrong length") }
        var offset = 16 + headerLength
        var arrays: [[Float]] = []
        for count in counts {
            arrays.append(data.subdata(in: offset..<(offset + count * 4)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
            offset += count * 4
        }
        return Checkpoint(header: header, parameters: arrays[0], optimizerState: arrays[1], hiddenState: arrays[2])
    }

    /// Reads and verifies the checkpoint file at `path`.
    public static func load(path: String) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RNNDistError.input("\(path): checkpoint not found or not readable")
        }
        return try decode(data, path: path)
    }

    /// The layout description stored in the header, for a shape check on load.
    public static func describe(_ layout: ParameterLayout) -> [String] {
        layout.tensors.map { "\($0.name):" + $0.shape.map(String.init).joined(separator: "x") }
    }
}

private func append<T: FixedWidthInteger>(_ value: T, to data: inout Data) {
    withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
}

private func read<T: FixedWidthInteger>(_ data: Data, at offset: Int) -> T {
    var value: T = 0
    withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: data[(data.startIndex + offset)..<(data.startIndex + offset + MemoryLayout<T>.size)]) }
    return T(littleEndian: value)
}

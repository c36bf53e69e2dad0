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
/// The header (`Checkpoint.Header`) holds the config, vocabulary, model shape, parameter layout,
/// step, data cursor, RNG state, logging sums and validation history; the hidden state is the whole global batch's, so a run
/// may resume on another rank count that divides the batch.
public struct Checkpoint: Sendable {
    public static let magic = Array("RNNDCKPT".utf8)
    /// 2 added `validationsSinceBest`; version 1 files still load (as no validation since the best).
    public static let version: UInt32 = 2

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

    // The names below were checked when the header was decoded (`Header.validate`), or come
    // from a model this build made.
    public var vocabulary: Vocabulary {
        if let words = header.words { return Vocabulary(words: words) }
        return Vocabulary(tokenizer: Tokenizer(rawValue: header.tokenizer)!, symbols: header.symbols)
    }

    public var shape: ModelShape {
        ModelShape(vocabulary: vocabulary.count, hidden: header.hidden, activation: Activation(rawValue: header.activation)!,
                   cell: CellType(rawValue: header.cell)!, layers: header.layers)
    }

    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Cannot fail: every field is a string, an integer, a finite number or null.
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
        guard (1...Self.version).contains(version) else {
            throw corrupt("format version \(version); this build reads 1 to \(Self.version)")
        }
        let stored: UInt64 = read(data, at: data.count - 8)
        let actual = data.withUnsafeBytes { fnv1a(UnsafeRawBufferPointer(rebasing: $0[..<(data.count - 8)])) }
        guard stored == actual else { throw corrupt("checksum mismatch: truncated or damaged") }
        let headerLength = Int(read(data, at: 12) as UInt32)
        guard 16 + headerLength <= data.count - 8 else { throw corrupt("header runs past the end") }
        let header = try Header.decode(data.subdata(in: (data.startIndex + 16)..<(data.startIndex + 16 + headerLength)),
                                       version: version, corrupt: corrupt)
        let counts = [header.parameterCount, header.optimizerStateCount, header.stateCount]
        let bodyBytes = data.count - 16 - headerLength - 8
        guard counts.allSatisfy({ $0 <= bodyBytes / 4 }), counts.reduce(0, +) * 4 == bodyBytes else {
            throw corrupt("wrong length")
        }
        // Each array copied straight out of the bytes (at any alignment), not through a copy of
        // its own bytes first.
        var offset = 16 + headerLength
        var arrays: [[Float]] = []
        data.withUnsafeBytes { bytes in
            for count in counts {
                let source = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count * 4)])
                arrays.append([Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
                    initialized = count
                })
                offset += count * 4
            }
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

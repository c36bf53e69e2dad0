import Foundation

/// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of
/// JSON — each tensor's `dtype`, `shape` and `data_offsets` [begin, end) into the data, and a
/// `__metadata__` map of strings — padded with spaces to a multiple of 8 so the data is
/// aligned, then the tensors' raw little-endian data, one after another, row-major.
public enum SafeTensors {
    /// A float32 tensor, row-major.
    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]

        public init(name: String, shape: [Int], values: [Float]) {
            precondition(shape.reduce(1, *) == values.count, "\(name): \(values.count) values for shape \(shape)")
            (self.name, self.shape, self.values) = (name, shape, values)
        }
    }

    /// The file's bytes: the tensors in the order given.
    public static func encode(_ tensors: [Tensor], metadata: [String: String]) -> Data {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for tensor in tensors {
            precondition(header[tensor.name] == nil, "duplicate tensor \(tensor.name)")
            let bytes = 4 * tensor.values.count
            header[tensor.name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        json.append(contentsOf: Array(repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for tensor in tensors {
            let littleEndian = tensor.values.map { $0.bitPattern.littleEndian }
            littleEndian.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        return data
    }

    /// Writes the file at `path` whole or not at all (a temporary file renamed over it). A
    /// folder that does not exist is an input error; a failed write (a full disk) a runtime one.
    public static func write(_ tensors: [Tensor], metadata: [String: String], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.deletingLastPathComponent().path, isDirectory: &isDirectory),
              isDirectory.boolValue else {
            throw RNNDistError.input("\(path): no such directory to write into")
        }
        do {
            try encode(tensors, metadata: metadata).write(to: url, options: .atomic)
        } catch {
            throw RNNDistError.runtime("\(path): cannot write (\(error.localizedDescription))")
        }
    }
}

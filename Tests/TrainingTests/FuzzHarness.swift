import Foundation
@testable import Training

/// libFuzzer's entry point (`launch/fuzz.sh` compiles this file with `swiftc -sanitize=fuzzer`
/// against an instrumented build of Training; in the test bundle it is an unused symbol).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    FuzzHarness.run(Data(bytes: bytes, count: count))
    return 0
}

/// The parsers of what users hand the trainer — checkpoints, token files, configs and `--set`
/// overrides — fed one input. The first byte chooses the parser; the rest is what it parses.
/// Each parser must succeed or throw an input error: a trap, a crash or a hang is what the
/// fuzzer finds, and what `FuzzRegressionTests` replays.
///
/// Checksums would stop almost every mutation at the first check, so each file format is also
/// fed "sealed": with its checksums made right by the harness, so that the header and the
/// tensors behind them are parsed.
enum FuzzHarness {
    static func run(_ input: Data) {
        guard let selector = input.first else { return }
        let body = input.dropFirst()
        switch selector % 5 {
        case 0: checkpoint(Data(body))
        case 1: checkpoint(sealedCheckpoint(Data(body)))
        case 2: tokenFile(Data(body))
        case 3: tokenFile(sealedTokenFile(Data(body)))
        default: config(Data(body))
        }
    }

    /// A checkpoint as a file holds it, then as `sample` and `eval` load it.
    static func checkpoint(_ data: Data) {
        guard let checkpoint = try? Checkpoint.decode(data, path: "fuzz.rnnd") else { return }
        _ = try? TrainedModel(checkpoint: checkpoint, path: "fuzz.rnnd")
    }

    /// `body` with its trailing checksum made right.
    static func sealedCheckpoint(_ body: Data) -> Data {
        var data = body
        var checksum = body.withUnsafeBytes { fnv1a($0) }.littleEndian
        withUnsafeBytes(of: &checksum) { data.append(contentsOf: $0) }
        return data
    }

    /// The token file written to memory-backed storage, opened as training opens it, and every
    /// token read as a rank reads its shard.
    static func tokenFile(_ data: Data) {
        let folder = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
        let path = folder + "rnn-dist-fuzz-\(getpid()).tokens"
        defer { unlink(path) }
        guard FileManager.default.createFile(atPath: path, contents: data),
              let file = try? TokenFile(path: path) else { return }
        let tokens = file.header.tokens
        let reader = file.reader(range: 0..<tokens, lanes: 2)
        var ids = [Int32](repeating: 0, count: min(tokens, 4096))
        var start = 0
        while start < tokens {
            let end = min(tokens, start + ids.count)
            ids.withUnsafeMutableBufferPointer { reader.read(start..<end, lane: start & 1, into: $0.baseAddress!) }
            if (try? reader.checkReads()) == nil { return }
            start = end
        }
    }

    /// A token file around the input: its first two bytes are the length L of a header (the JSON
    /// text that follows), the rest of the input is the tokens; the magic number, the version,
    /// the table of block checksums, the header's checksum and the padding up to the header's
    /// `dataOffset` (when it is a little past the table) are made right.
    static func sealedTokenFile(_ input: Data) -> Data {
        let bytes = [UInt8](input)
        guard bytes.count >= 2 else { return input }
        let length = min(bytes.count - 2, Int(bytes[0]) | Int(bytes[1]) << 8)
        let json = Array(bytes[2..<(2 + length)])
        let tokens = Array(bytes[(2 + length)...])
        var preamble = TokenFile.magic
        withUnsafeBytes(of: TokenFile.version.littleEndian) { preamble += $0 }
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { preamble += $0 }
        var table: [UInt64] = stride(from: 0, to: tokens.count, by: TokenFile.blockBytes).map { start in
            tokens[start..<min(tokens.count, start + TokenFile.blockBytes)].withUnsafeBytes { XXH64.hash($0) }
        }
        if let header = try? JSONDecoder().decode(TokenFile.Header.self, from: Data(json)),
           header.tokens >= 0, header.tokens < 1 << 32, [1, 2, 4].contains(header.tokenWidth) {
            // As many block checksums as the header's own count says there are.
            let blocks = TokenFile.blockCount(tokens: header.tokens, width: header.tokenWidth)
            table = Array((table + [UInt64](repeating: 0, count: max(0, blocks - table.count))).prefix(blocks))
        }
        var padding = 0
        if let header = try? JSONDecoder().decode(TokenFile.Header.self, from: Data(json)) {
            let tableEnd = preamble.count + json.count + 8 * (table.count + 1)
            if (tableEnd...(tableEnd + 4096)).contains(header.dataOffset) { padding = header.dataOffset - tableEnd }
        }
        var hasher = XXH64()
        preamble.withUnsafeBytes { hasher.update($0) }
        json.withUnsafeBytes { hasher.update($0) }
        table.map(\.littleEndian).withUnsafeBytes { hasher.update($0) }
        table.append(hasher.finish())
        var file = preamble + json
        table.map(\.littleEndian).withUnsafeBytes { file += $0 }
        return Data(file + [UInt8](repeating: 0, count: padding) + tokens)
    }

    /// A config file's JSON, then the same bytes as `--set` overrides of a valid config.
    static func config(_ data: Data) {
        if let document = try? JSONValue.parse(data) {
            _ = try? ConfigLoader.decode(document, source: "fuzz.json", name: "fuzz", overrides: [])
        }
        let overrides = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        _ = try? ConfigLoader.decode(.object(["data": .object(["synthetic": .string("sum_mod_26")])]),
                                     source: "fuzz.json", name: "fuzz", overrides: overrides)
    }
}

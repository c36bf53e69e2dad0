import Foundation
import Training

/// libFuzzer's entry point: the bytes it generates, fed to the parsers of what users hand the
/// trainer. The first byte chooses the parser; the rest is the input. Each parser must throw
/// an input error or succeed — a trap is what the fuzzer finds. Built only when
/// RNN_DIST_FUZZ=1 (see Package.swift and the README's "Fuzzing").
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let input = Data(bytes: bytes + 1, count: count - 1)
    switch bytes[0] % 3 {
    case 0:
        // A checkpoint as written, or with its checksum made right so the header is parsed.
        _ = try? Checkpoint.decode(input, path: "fuzz")
        if let checkpoint = try? Checkpoint.decode(sealed(input), path: "fuzz") {
            _ = try? TrainedModel(checkpoint: checkpoint, path: "fuzz")
        }
    case 1:
        _ = try? ConfigLoader.decode(JSONValue.parse(input), source: "fuzz", name: "fuzz", overrides: [])
    default:
        // --set overrides on a valid config.
        let overrides = String(decoding: input, as: UTF8.self).split(separator: "\n").map(String.init)
        _ = try? ConfigLoader.decode(.object(["data": .object(["synthetic": .string("sum_mod_26")])]),
                                     source: "fuzz", name: "fuzz", overrides: overrides)
    }
    return 0
}

/// `body` with a correct trailing checksum.
func sealed(_ body: Data) -> Data {
    var data = body
    var hash = Checkpoint.checksum(of: body)
    withUnsafeBytes(of: &hash) { data.append(contentsOf: $0) }
    return data
}

import XCTest
import TestSupport

/// The elementwise kernels run their per-vector math inline: in this optimised build no
/// function of theirs calls `tanhOfVector`, `sigmoidOfVector` or `vectorExp`. Passed to
/// `mapVectors` as a closure, the AVX2 path's `SIMD8` tanh and sigmoid once stayed an
/// out-of-line call per 8 floats, the argument split into two xmm halves and a `vzeroupper`
/// before each return; inlined, models A and C trained 2.1 % and 1.5 % faster on an AVX2 build.
/// Every x86-64 build compiles the AVX2 path whatever its target CPU, so this is seen here.
///
/// What is read is the test bundle's own machine code (`llvm-objdump` of this process's
/// executable). It is built with `-enable-testing`, which the product's release build is not,
/// and their inlining differs a little elsewhere (this build's softmax calls `SIMD16.clamped`,
/// the product's inlines it), so only the per-vector math functions are checked.
#if os(Linux)
final class ElementwiseInliningTests: XCTestCase {
    /// The kernels, by the first identifier of their mangled names in module Kernels: with it
    /// come their specialisations and closures.
    static let kernels = ["floatTanh", "floatSigmoid", "floatLSTMForward", "floatLSTMBackward", "floatGRUForward",
                          "floatGRUBackward", "floatSoftmaxCrossEntropy", "floatAdagrad", "softmaxRows", "mapVectors",
                          "lstmForwardVectors", "lstmBackwardVectors", "gruForwardVectors", "gruBackwardVectors"]
    static let perVectorFunctions = ["tanhOfVector", "sigmoidOfVector", "vectorExp"]

    func testElementwiseKernelsInlineTheirPerVectorMath() throws {
        #if DEBUG
        throw XCTSkip("inlining is a property of optimised builds: swift test -c release")
        #else
        let tools = try Self.toolchainDirectory()
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let symbols = try Self.run(tools.appendingPathComponent("llvm-nm"), ["--defined-only", binary.path])
            .split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
        let checked = Set(symbols.filter { Self.kernels.contains(Self.firstIdentifier(ofKernelsSymbol: $0) ?? "") })
        let found = Set(checked.compactMap(Self.firstIdentifier(ofKernelsSymbol:)))
        XCTAssertTrue(found.isSuperset(of: ["floatTanh", "floatSigmoid", "floatSoftmaxCrossEntropy"]),
                      "kernels not found in \(binary.path): found only \(found.sorted())")

        let listing = try Self.run(tools.appendingPathComponent("llvm-objdump"),
                                   ["-d", "--no-show-raw-insn", "--disassemble-symbols=" + checked.sorted().joined(separator: ","),
                                    binary.path])
        let disassembly = LoopDisassembly(listing)
        // Against a vacuous pass: the math is there, as multiply-adds (the exp's polynomial).
        XCTAssertFalse(disassembly.functionsWithMultiplyAdds { _ in true }.isEmpty,
                       "no vector multiply-add in the kernels' disassembly")
        var calls: [String] = []
        for (function, instructions) in disassembly.functions {
            for instruction in instructions where LoopDisassembly.isCall(instruction.mnemonic) {
                if Self.perVectorFunctions.contains(where: { instruction.operands.contains($0) }) {
                    calls.append("\(function) calls \(instruction.operands)")
                }
            }
        }
        XCTAssertEqual(calls, [], "per-vector functions called out of line (each call costs more than its vector's math)")
        #endif
    }

    /// "floatTanh" for `$s7Kernels9floatTanh_4into…` (and its specialisations and closures), nil
    /// outside module Kernels.
    static func firstIdentifier(ofKernelsSymbol symbol: String) -> String? {
        guard symbol.hasPrefix("$s7Kernels") else { return nil }
        let rest = symbol.dropFirst("$s7Kernels".count)
        let digits = rest.prefix { $0.isNumber }
        guard let length = Int(digits), rest.count >= digits.count + length else { return nil }
        return String(rest.dropFirst(digits.count).prefix(length))
    }

    /// The toolchain's bin directory (llvm-nm, llvm-objdump), found as `Tests/CrossISA/check.sh`
    /// finds it: from the compiler's runtime resource path.
    static func toolchainDirectory() throws -> URL {
        let info = try run(URL(fileURLWithPath: "/usr/bin/env"), ["swiftc", "-print-target-info"])
        guard let json = try JSONSerialization.jsonObject(with: Data(info.utf8)) as? [String: Any],
              let paths = json["paths"] as? [String: Any], let resources = paths["runtimeResourcePath"] as? String else {
            throw NSError(domain: "ElementwiseInliningTests", code: 1, userInfo: [
                NSLocalizedDescriptionKey: "no runtimeResourcePath in swiftc -print-target-info: \(info)"])
        }
        return URL(fileURLWithPath: resources).appendingPathComponent("../../bin").standardizedFileURL
    }

    static func run(_ executable: URL, _ arguments: [String]) throws -> String {
        let result = try runProcess(executable, arguments, timeout: 120)
        guard result.status == 0, !result.timedOut else {
            throw NSError(domain: "ElementwiseInliningTests", code: Int(result.status), userInfo: [
                NSLocalizedDescriptionKey: "\(executable.lastPathComponent) \(arguments.prefix(2).joined(separator: " ")) failed: \(result.stderr)"])
        }
        return result.stdout
    }
}
#endif

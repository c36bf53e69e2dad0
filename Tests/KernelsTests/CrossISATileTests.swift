import XCTest
import TestSupport

/// Each ISA's register tile, built from the kernels' own sources for its target by
/// `Tests/CrossISA/check.sh` (Embedded Swift, statically linked): the AArch64 tile under
/// qemu-user, the x86 tiles natively where this CPU has their ISA. Two things are checked:
///
/// - the harness's results: the micro-kernel for every row count and panel width of the tile,
///   A in place and packed, C overwritten and accumulated; the whole Float product on the tile's
///   path (B in place, packed per block and prepacked, transposes, several chunks and k-blocks,
///   right edges, work split into parts); the dot-product edge; every `FloatVector` operation
///   the elementwise kernels use, and `vectorExp`; each against a plain reference;
/// - the tile fits the register file: in the disassembly of every function specialised for the
///   tile, the innermost loop around the multiply-adds moves no vector register to or from the
///   stack frame, and the loop with the most of them (the whole tile's) runs a whole number of
///   tiles' worth: rows × vectors, or that unrolled. Before there were tiles per ISA, the 8×32
///   `SIMD16` tile ran on AVX2 CPUs too, where it does not fit; the controls build exactly that,
///   and a tile too large for AArch64's registers, and check that this reading sees their spills.
///
/// The harness is its own compilation of the same sources, so the compiler's choices there are
/// a close proxy for, not a copy of, those in the package's release build.
#if arch(x86_64) && os(Linux)   // check.sh cross-builds from x86-64 Linux: AArch64 under qemu, x86 natively
final class CrossISATileTests: XCTestCase {
    struct BuildFailed: Error, CustomStringConvertible {
        let description: String
    }

    struct Build {
        let output: String
        let loops: [LoopDisassembly.Loop]
        /// Functions for the tile that hold multiply-adds but no loop around them was found in.
        let functionsWithoutLoops: [String]
    }

    /// check.sh's output and the multiply-add loops of the code specialised for `tileType`.
    /// `targetCPU` overrides the tile's own CPU (`RNN_DIST_TILE_CPU`; always set, so that one in
    /// the test's environment cannot leak in).
    func build(_ tile: String, tileType: String, targetCPU: String = "") throws -> Build {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/CrossISA/check.sh").path
        let result = try runProcess(URL(fileURLWithPath: "/bin/bash"), [script, tile, directory.path],
                                    environment: ["RNN_DIST_TILE_CPU": targetCPU], timeout: 300)
        guard result.status == 0 && !result.timedOut else {
            throw BuildFailed(description: "check.sh \(tile) " + (result.timedOut ? "timed out" : "exited \(result.status)")
                              + ":\n\(result.stdout)\n\(result.stderr)")
        }
        let disassembly = LoopDisassembly(try String(contentsOf: directory.appendingPathComponent("disassembly.txt"),
                                                     encoding: .utf8))
        // The harness's entry point and every function specialised for the tile (the
        // micro-kernel's instantiations, the product's and the dot-product edge's), wherever the
        // compiler left the k loops. The product instantiates every tile of the architecture; the
        // others are never chosen on a CPU of this one's class, and may well spill here.
        let forTile = { (name: String) in
            name == "rnn_dist_tile_kernel" || name.contains("harness.\(tileType)>") || name.contains("harness.\(tileType),")
        }
        let loops = disassembly.multiplyAddLoops(inFunctionsWhere: forTile)
        let withoutLoops = disassembly.functionsWithMultiplyAdds(where: forTile).filter { name in
            !loops.contains { $0.function == name }
        }
        return Build(output: result.stdout, loops: loops, functionsWithoutLoops: withoutLoops)
    }

    /// What shows that the tile does not fit its registers, one line each: vector stack traffic
    /// in a multiply-add loop; a widest loop whose multiply-adds are not a whole number of tiles
    /// (`perTile`: rows × vectors × registers a vector takes), as when the accumulators are kept
    /// in memory and a loop walks them; multiply-adds in a function where no loop was found.
    func registerFitProblems(_ build: Build, perTile: Int) -> [String] {
        var problems = build.loops.filter { !$0.vectorStackTraffic.isEmpty }.map { loop in
            "spills in a k loop of \(loop.function): \(loop.vectorStackTraffic.prefix(4).joined(separator: "; "))"
        }
        let widest = build.loops.map(\.multiplyAdds).max() ?? 0
        if widest == 0 || widest % perTile != 0 {
            problems.append("the widest loop has \(widest) multiply-adds, not a multiple of the tile's \(perTile)")
        }
        problems += build.functionsWithoutLoops.map { "multiply-adds outside any loop in \($0)" }
        return problems
    }

    /// The tile's results match (when it ran) and its loops keep every accumulator in a register.
    func assertTile(_ tile: String, _ tileType: String, rows: Int, vectors: Int, fma: Bool, ranHere: Bool,
                    file: StaticString = #filePath, line: UInt = #line) throws {
        let build = try build(tile, tileType: tileType)
        if ranHere {
            for expected in ["\(rows) rows × \(vectors) vectors", fma ? "with FMA" : "without FMA",
                             "micro-kernel matches the reference", "dot-product edge matches the reference",
                             "gemm matches the reference in 70 products", "vector operations match their scalars",
                             "vectorExp within 4 ulp"] {
                XCTAssertTrue(build.output.contains(expected), "missing '\(expected)' in:\n\(build.output)",
                              file: file, line: line)
            }
        } else {
            XCTAssertTrue(build.output.contains("not run: this CPU has no"), build.output, file: file, line: line)
        }
        XCTAssertEqual(registerFitProblems(build, perTile: rows * vectors), [], tile, file: file, line: line)
    }

    func testNEONTileComputesRightUnderEmulationAndFitsThirtyTwoRegisters() throws {
        try assertTile("neon", "NEONTile", rows: 8, vectors: 3, fma: true, ranHere: true)
    }

    func testAVX2TileFitsSixteenRegisters() throws {
        try assertTile("avx2", "AVX2Tile", rows: 6, vectors: 2, fma: true, ranHere: Self.cpuHas(["avx2", "fma"]))
    }

    func testAVX512TileFitsThirtyTwoRegisters() throws {
        try assertTile("avx512", "AVX512Tile", rows: 8, vectors: 2, fma: true,
                       ranHere: Self.cpuHas(["avx512bw", "avx512vl"]))
    }

    func testGenericTileFitsSixteenRegisters() throws {
        try assertTile("generic", "GenericTile", rows: 4, vectors: 2, fma: false, ranHere: true)
    }

    /// A control on x86: the AVX-512 tile (8 rows × 2 `SIMD16`, each two ymm registers) built
    /// for an AVX2 CPU wants 32 accumulators of 16 registers; the checks above must see its
    /// spills, or they could not see any.
    func testAnAVX512TileBuiltForAVX2IsSeenToSpill() throws {
        let build = try build("avx512", tileType: "AVX512Tile", targetCPU: "haswell")
        let problems = registerFitProblems(build, perTile: 8 * 2 * 2)
        XCTAssertTrue(problems.contains { $0.hasPrefix("spills in a k loop") }, problems.joined(separator: "\n"))
        let wholeTile = try XCTUnwrap(build.loops.max { $0.multiplyAdds < $1.multiplyAdds })
        XCTAssertEqual(wholeTile.multiplyAdds, 32)
        XCTAssertGreaterThan(wholeTile.vectorStackTraffic.count, 16, wholeTile.vectorStackTraffic.joined(separator: "\n"))
    }

    /// The same control on AArch64: 8 rows × 2 `SIMD16` are 64 q registers of accumulators
    /// against 32. The compiler keeps the whole tile's accumulators in memory and loops over
    /// them, and spills in the smaller cuts; both must be seen. (It still computes right: the
    /// harness runs too.)
    func testATileTooLargeForAArch64IsSeenToSpill() throws {
        let build = try build("neon-oversized", tileType: "OversizedTile")
        XCTAssertTrue(build.output.contains("micro-kernel matches the reference"), build.output)
        let problems = registerFitProblems(build, perTile: 8 * 2 * 4)
        XCTAssertTrue(problems.contains { $0.hasPrefix("spills in a k loop") }, problems.joined(separator: "\n"))
        XCTAssertTrue(problems.contains { $0.hasPrefix("the widest loop has") }, problems.joined(separator: "\n"))
    }

    static func cpuHas(_ flags: [String]) -> Bool {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let present = Set(line.split(separator: " ").map(String.init))
        return flags.allSatisfy(present.contains)
    }
}
#endif

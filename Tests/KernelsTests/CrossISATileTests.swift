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
/// - the tile fits the register file: in the disassembly of every micro-kernel instantiation,
///   the innermost loop around the multiply-adds moves no vector register to or from the stack,
///   and the whole tile's loop has rows × vectors of them. Before there were tiles per ISA, the
///   8×32 `SIMD16` tile ran on AVX2 CPUs too, where it does not fit; the last test builds
///   exactly that and checks that this reading sees its spills.
///
/// The harness is its own compilation of the same sources, so the compiler's choices there are
/// a close proxy for, not a copy of, those in the package's release build.
#if arch(x86_64)   // check.sh cross-builds from x86-64: the AArch64 tile under qemu, the x86 tiles natively
final class CrossISATileTests: XCTestCase {
    struct BuildFailed: Error, CustomStringConvertible {
        let description: String
    }

    /// check.sh's output and the multiply-add loops of the code specialised for `tileType`.
    func build(_ tile: String, tileType: String, targetCPU: String? = nil) throws
        -> (output: String, loops: [LoopDisassembly.Loop]) {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/CrossISA/check.sh").path
        let result = try runProcess(URL(fileURLWithPath: "/bin/bash"), [script, tile, directory.path],
                                    environment: targetCPU.map { ["TARGET_CPU": $0] }, timeout: 300)
        guard result.status == 0 else {
            throw BuildFailed(description: "check.sh \(tile) exited \(result.status):\n\(result.stdout)\n\(result.stderr)")
        }
        let text = try String(contentsOf: directory.appendingPathComponent("disassembly.txt"), encoding: .utf8)
        // The harness's entry point and every function specialised for the tile (the
        // micro-kernel's instantiations, the product's and the dot-product edge's), wherever the
        // compiler left the k loops. The product instantiates every tile of the architecture; the
        // others are never chosen on a CPU of this one's class, and may well spill here.
        let loops = LoopDisassembly(text).multiplyAddLoops {
            $0 == "rnn_dist_tile_kernel" || $0.contains("harness.\(tileType)>") || $0.contains("harness.\(tileType),")
        }
        return (result.stdout, loops)
    }

    /// The tile's results match (when it ran) and its loops keep every accumulator in a register.
    func assertTile(_ tile: String, _ tileType: String, rows: Int, vectors: Int, ranHere: Bool,
                    file: StaticString = #filePath, line: UInt = #line) throws {
        let (output, loops) = try build(tile, tileType: tileType)
        if ranHere {
            for expected in ["\(rows) rows × \(vectors) vectors", "micro-kernel matches the reference",
                             "dot-product edge matches the reference", "gemm matches the reference in 70 products",
                             "vector operations match their scalars", "vectorExp within 4 ulp"] {
                XCTAssertTrue(output.contains(expected), "missing '\(expected)' in:\n\(output)", file: file, line: line)
            }
        } else {
            XCTAssertTrue(output.contains("not run: this CPU has no"), output, file: file, line: line)
        }
        XCTAssertFalse(loops.isEmpty, "no micro-kernel loops found", file: file, line: line)
        for loop in loops {
            XCTAssertEqual(loop.vectorStackTraffic, [], "\(tile): spills in a k loop of \(loop.function)",
                           file: file, line: line)
        }
        XCTAssertTrue(loops.contains { $0.multiplyAdds == rows * vectors },
                      "\(tile): no loop of \(rows * vectors) multiply-adds (the whole tile) among \(loops.map(\.multiplyAdds))",
                      file: file, line: line)
    }

    func testNEONTileComputesRightUnderEmulationAndFitsThirtyTwoRegisters() throws {
        try assertTile("neon", "NEONTile", rows: 8, vectors: 3, ranHere: true)
    }

    func testAVX2TileFitsSixteenRegisters() throws {
        try assertTile("avx2", "AVX2Tile", rows: 6, vectors: 2, ranHere: Self.cpuHas(["avx2", "fma"]))
    }

    func testAVX512TileFitsThirtyTwoRegisters() throws {
        try assertTile("avx512", "AVX512Tile", rows: 8, vectors: 2, ranHere: Self.cpuHas(["avx512bw", "avx512vl"]))
    }

    func testGenericTileFitsSixteenRegisters() throws {
        try assertTile("generic", "GenericTile", rows: 4, vectors: 2, ranHere: true)
    }

    /// The negative control: the AVX-512 tile (8 rows × 2 `SIMD16`, each two ymm registers)
    /// built for an AVX2 CPU wants 32 accumulators of 16 registers, and its whole-tile loop
    /// must show stack traffic here, or the checks above could not see a spill.
    func testAnAVX512TileBuiltForAVX2IsSeenToSpill() throws {
        let (_, loops) = try build("avx512", tileType: "AVX512Tile", targetCPU: "haswell")
        let wholeTile = try XCTUnwrap(loops.max { $0.multiplyAdds < $1.multiplyAdds })
        XCTAssertEqual(wholeTile.multiplyAdds, 32)
        XCTAssertGreaterThan(wholeTile.vectorStackTraffic.count, 16, wholeTile.vectorStackTraffic.joined(separator: "\n"))
    }

    static func cpuHas(_ flags: [String]) -> Bool {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let present = Set(line.split(separator: " ").map(String.init))
        return flags.allSatisfy(present.contains)
    }
}
#endif

import XCTest

/// The disassembly reading behind `CrossISATileTests`, on hand-written listings in
/// `llvm-objdump -d --no-show-raw-insn`'s format: which loops it finds and what it calls a spill.
final class LoopDisassemblyTests: XCTestCase {
    func loops(_ listing: String) -> [LoopDisassembly.Loop] {
        LoopDisassembly(listing).multiplyAddLoops { _ in true }
    }

    func testAArch64SpillsThroughTheStackOrFramePointerAreSeenAndGeneralRegistersAreNot() {
        let listing = """
        0000000000000000 <kernel>:
               0:      \tmov\tx9, xzr
               4:      \tldr\tq1, [x1]
               8:      \tfmla\tv0.4s, v1.4s, v2.s[0]
               c:      \tstr\tq8, [x29, #-0x10]
              10:      \tldr\tq9, [sp, #0x20]
              14:      \tldr\tx3, [sp, #0x8]
              18:      \tsubs\tx0, x0, #0x1
              1c:      \tb.ne\t0x4 <kernel+0x4>
              20:      \tret
        """
        let found = loops(listing)
        XCTAssertEqual(found.count, 1)
        XCTAssertEqual(found.first?.multiplyAdds, 1)
        XCTAssertEqual(found.first?.vectorStackTraffic, ["str q8, [x29, #-0x10]", "ldr q9, [sp, #0x20]"])
    }

    func testX86FramePointerCountsOnlyWhereTheFunctionSetsItUp() {
        func listing(framePointer: Bool) -> String {
            """
            0000000000000000 <kernel>:
                   0:      \t\(framePointer ? "movq\t%rsp, %rbp" : "movq\t%rdi, %rbp")
                   3:      \tvmovups\t(%rbp), %ymm2
                   7:      \tvfmadd231ps\t%ymm2, %ymm1, %ymm0
                   c:      \tvmovups\t%ymm3, 0x20(%rsp)
                  12:      \tdecq\t%rcx
                  15:      \tjne\t0x3 <kernel+0x3>
                  17:      \tretq
            """
        }
        XCTAssertEqual(loops(listing(framePointer: false)).first?.vectorStackTraffic, ["vmovups %ymm3, 0x20(%rsp)"])
        XCTAssertEqual(loops(listing(framePointer: true)).first?.vectorStackTraffic,
                       ["vmovups (%rbp), %ymm2", "vmovups %ymm3, 0x20(%rsp)"])
    }

    /// A backward branch to shared code laid out earlier (here a store block that jumps on) is
    /// not a loop: the multiply-add after the real loop belongs to no loop, and the real loop,
    /// clean, is the only one found.
    func testABackwardBranchAcrossAJumpIsNotALoop() {
        let listing = """
        0000000000000000 <kernel>:
               0:      \tvmovups\t%ymm0, 0x40(%rsp)
               6:      \tjmp\t0x40 <kernel+0x40>
              10:      \tvfmadd231ps\t(%rsi), %ymm1, %ymm0
              15:      \tdecq\t%rcx
              18:      \tjne\t0x10 <kernel+0x10>
              1a:      \tvfmadd231ps\t(%rdx), %ymm1, %ymm0
              1f:      \tcmpq\t$0x7, %r15
              23:      \tjg\t0x0 <kernel>
              40:      \tretq
        """
        let found = loops(listing)
        XCTAssertEqual(found.map(\.multiplyAdds), [1])
        XCTAssertEqual(found.first?.vectorStackTraffic, [])
        XCTAssertEqual(found.first?.instructions.map(\.address), [0x10, 0x15, 0x18])
    }
}

import Foundation

/// The functions in `llvm-objdump -d --no-show-raw-insn` output (AArch64 or x86-64) and their
/// innermost loops, as far as a register-tile check needs them: how many multiply-adds each runs
/// per pass, and which of its instructions move a vector register to or from the stack (a
/// spill). `ElementwiseInliningTests` reads the calls in the same listing.
struct LoopDisassembly {
    struct Instruction {
        let address: Int
        let mnemonic: String
        let operands: String
    }

    struct Loop {
        let function: String
        let instructions: [Instruction]
        /// Whether the function keeps a frame pointer (x86 `mov %rsp, %rbp`), so that `(%rbp`
        /// addresses its stack frame; elsewhere rbp is an ordinary register. AArch64's frame
        /// pointer, x29, always addresses the frame.
        let framePointerAddressesStack: Bool

        /// Vector multiply-adds: AArch64 `fmla`, x86 `vfmadd…`, or the `mulps` of a multiply and
        /// add on x86-64 without FMA.
        var multiplyAdds: Int { instructions.count { Self.isMultiplyAdd($0.mnemonic) } }

        static func isMultiplyAdd(_ mnemonic: String) -> Bool {
            mnemonic.hasPrefix("fmla") || mnemonic.hasPrefix("vfmadd") || mnemonic == "mulps"
        }

        /// Instructions that load or store a vector register in the stack frame (through the
        /// stack or frame pointer).
        var vectorStackTraffic: [String] {
            instructions.filter { instruction in
                let operands = instruction.operands
                let atStack = operands.contains("[sp") || operands.contains("[x29") || operands.contains("(%rsp")
                    || (framePointerAddressesStack && operands.contains("(%rbp"))
                let vector = operands.contains("%xmm") || operands.contains("%ymm") || operands.contains("%zmm")
                    || operands.range(of: #"\b[qdsv][0-9]+\b"#, options: .regularExpression) != nil
                return atStack && vector
            }.map { "\($0.mnemonic) \($0.operands)" }
        }
    }

    /// Function name → its instructions in address order.
    private(set) var functions: [String: [Instruction]] = [:]

    init(_ text: String) {
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if let header = line.wholeMatch(of: /([0-9a-f]+) <(.+)>:/) {
                current = String(header.2)   // a name seen again (none so far) adds to the first
                functions[String(header.2), default: []] += []
            } else if let current, let match = line.wholeMatch(of: /\s+([0-9a-f]+):\s+(\S+)\s*(.*)/),
                      let address = Int(match.1, radix: 16) {
                functions[current]!.append(Instruction(address: address, mnemonic: String(match.2),
                                                       operands: String(match.3)))
            }
        }
    }

    /// For each function whose name `selects`, the innermost loop around each of its
    /// multiply-adds: the shortest span from a backward conditional branch's target to the
    /// branch (a loop's latch, as the optimiser lays loops out) with no jump, call or return
    /// inside. A backward branch also leads to shared code laid out earlier (a store, the
    /// epilogue); a span across such code holds those, and without this rule a multiply-add
    /// after a loop (its unrolled remainder) was taken for one inside a "loop" that spilled.
    func multiplyAddLoops(inFunctionsWhere selects: (String) -> Bool) -> [Loop] {
        var loops: [Loop] = []
        for (name, instructions) in functions where selects(name) {
            guard let start = instructions.first?.address else { continue }
            let spans: [ClosedRange<Int>] = instructions.compactMap { instruction in
                guard Self.isConditionalBranch(instruction.mnemonic),
                      let target = instruction.operands.firstMatch(of: /(?:0x)?([0-9a-f]+) </),
                      let address = Int(target.1, radix: 16),
                      address >= start, address < instruction.address else { return nil }
                let span = address...instruction.address
                let straight = !instructions.contains { span.contains($0.address) && Self.leavesStraightLine($0.mnemonic) }
                return straight ? span : nil
            }
            let framePointer = instructions.contains { $0.mnemonic.hasPrefix("mov") && $0.operands.hasPrefix("%rsp, %rbp") }
            var seen = Set<Int>()
            for instruction in instructions where Loop.isMultiplyAdd(instruction.mnemonic) {
                guard let innermost = spans.filter({ $0.contains(instruction.address) })
                        .min(by: { $0.count < $1.count }),
                      seen.insert(innermost.lowerBound).inserted else { continue }
                loops.append(Loop(function: name, instructions: instructions.filter { innermost.contains($0.address) },
                                  framePointerAddressesStack: framePointer))
            }
        }
        return loops
    }

    /// Unconditional jumps, calls and returns: AArch64 `b`, `br`, `ret`; x86 `jmp`, `ret` (any
    /// suffix); and calls (`isCall`).
    private static func leavesStraightLine(_ mnemonic: String) -> Bool {
        ["b", "br", "ret"].contains(mnemonic) || mnemonic.hasPrefix("jmp") || mnemonic.hasPrefix("ret")
            || isCall(mnemonic)
    }

    /// Calls: AArch64 `bl`, `blr`; x86 `call` (any suffix).
    static func isCall(_ mnemonic: String) -> Bool {
        mnemonic == "bl" || mnemonic == "blr" || mnemonic.hasPrefix("call")
    }

    /// The functions `selects` picks that hold any multiply-add.
    func functionsWithMultiplyAdds(where selects: (String) -> Bool) -> [String] {
        functions.filter { selects($0.key) && $0.value.contains { Loop.isMultiplyAdd($0.mnemonic) } }.map(\.key)
    }

    /// AArch64 `b.cond`, `cbz`, `cbnz`, `tbz`, `tbnz`; x86 `jcc`.
    private static func isConditionalBranch(_ mnemonic: String) -> Bool {
        mnemonic.hasPrefix("b.") || (mnemonic.hasPrefix("j") && !mnemonic.hasPrefix("jmp"))
            || ["cbz", "cbnz", "tbz", "tbnz"].contains(mnemonic)
    }
}

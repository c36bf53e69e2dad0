import Foundation

/// Which `KernelPath` this process runs, and why: `RNN_DIST_KERNEL`, what the build was compiled
/// for and what the CPU has.
extension KernelPath {
    /// The path the kernels use when not told otherwise. Stops the process when
    /// `RNN_DIST_KERNEL` asks for a path this build or CPU cannot run — the command line checks
    /// `selection` first and exits 2 with its message instead.
    public static let current: KernelPath = {
        switch selection {
        case .success(let choice): return choice.path
        case .failure(let error): fatalError(error.message)
        }
    }()

    /// The path chosen for this process and why, or why `RNN_DIST_KERNEL` cannot be honoured.
    public static let selection: Result<Choice, SelectionError> =
        select(requested: ProcessInfo.processInfo.environment["RNN_DIST_KERNEL"])

    public struct Choice: Sendable {
        public let path: KernelPath
        /// One line for people: `kernels: avx2 (...)`, naming the path and why it was chosen.
        public let description: String
    }

    public struct SelectionError: Error, Sendable {
        public let message: String
    }

    /// The paths this process can run (the build has the instructions and the CPU runs them),
    /// widest first.
    public static var runnable: [KernelPath] { allCases.filter(\.isRunnable) }

    public var isRunnable: Bool { isBuilt && cpuHasIt }

    var existsOnThisArchitecture: Bool {
        #if arch(x86_64)
        return self != .neon
        #elseif arch(arm64)
        return self == .neon || self == .generic
        #else
        return self == .generic
        #endif
    }

    /// Whether this build was compiled with the path's instructions.
    public var isBuilt: Bool {
        switch self {
        case .avx512: return CPUFeatures.builtForAVX512
        case .avx2: return CPUFeatures.builtForAVX2FMA
        case .neon: return CPUFeatures.builtForNEON
        case .generic: return true
        }
    }

    /// Whether this CPU (and its OS) runs the path's instructions.
    public var cpuHasIt: Bool {
        switch self {
        case .avx512: return CPUFeatures.hasAVX512
        case .avx2: return CPUFeatures.hasAVX2FMA
        case .neon: return CPUFeatures.builtForNEON   // Advanced SIMD is part of every AArch64 CPU
        case .generic: return true
        }
    }

    /// The chosen path, or an error for a request this build or CPU cannot run. Also an error:
    /// a build whose instructions the CPU lacks (built elsewhere, for a wider CPU), which would
    /// stop with an illegal instruction somewhere in the first step.
    public static func select(requested: String?) -> Result<Choice, SelectionError> {
        let build = "built for -target-cpu \(CPUFeatures.targetCPU) (\(Self.buildFeatures))"
        let cpu = "CPU \(CPUFeatures.cpuName.isEmpty ? "unknown" : CPUFeatures.cpuName) (\(Self.cpuFeatures))"
        for path in [KernelPath.avx512, .avx2] where path.isBuilt && !path.cpuHasIt {
            return .failure(SelectionError(message: """
                this binary was \(build) but the \(cpu) lacks \(path.rawValue.uppercased()); rebuild it for this CPU \
                (swift build -c release on it, or RNN_DIST_TARGET_CPU=<this CPU, or x86-64-v3 / x86-64-v2>)
                """))
        }
        if let requested, !requested.isEmpty {
            guard let path = KernelPath(rawValue: requested) else {
                return .failure(SelectionError(message: "RNN_DIST_KERNEL=\(requested): unknown path (avx512, avx2, neon or generic)"))
            }
            guard path.existsOnThisArchitecture else {
                return .failure(SelectionError(message: "RNN_DIST_KERNEL=\(requested): that path is for \(path == .neon ? "AArch64" : "x86-64") CPUs; this build is for another architecture"))
            }
            guard path.isBuilt else {
                return .failure(SelectionError(message: "RNN_DIST_KERNEL=\(requested): this binary was \(build), without the \(requested) instructions; rebuild with RNN_DIST_TARGET_CPU naming a CPU that has them"))
            }
            guard path.cpuHasIt else {
                return .failure(SelectionError(message: "RNN_DIST_KERNEL=\(requested): the \(cpu) cannot run it"))
            }
            return .success(Choice(path: path, description: "kernels: \(path.rawValue) (forced by RNN_DIST_KERNEL; \(path.tileDescription); \(build); \(cpu))"))
        }
        let path = runnable.first ?? .generic
        let why = path == .generic ? "no vector path of this build runs here" : "the widest path the build and the CPU both have"
        return .success(Choice(path: path, description: "kernels: \(path.rawValue) (\(why); \(path.tileDescription); \(build); \(cpu))"))
    }

    static var buildFeatures: String {
        [(CPUFeatures.builtForAVX512, "AVX-512F"), (CPUFeatures.builtForAVX2FMA, "AVX2+FMA"), (CPUFeatures.builtForNEON, "NEON")]
            .filter(\.0).map(\.1).joined(separator: ", ").nonEmpty ?? "no AVX2/AVX-512/NEON"
    }

    static var cpuFeatures: String {
        #if arch(arm64)
        return "NEON"
        #else
        return [(CPUFeatures.hasAVX512, "AVX-512F"), (CPUFeatures.hasAVX2FMA, "AVX2+FMA")]
            .filter(\.0).map(\.1).joined(separator: ", ").nonEmpty ?? "no AVX2"
        #endif
    }

    /// The register tile, in words: rows × columns of C and the vector type.
    public var tileDescription: String {
        switch self {
        #if arch(x86_64)
        case .avx512: return Self.describe(AVX512Tile.self)
        case .avx2: return Self.describe(AVX2Tile.self)
        #endif
        #if arch(arm64)
        case .neon: return Self.describe(NEONTile.self)
        #endif
        default: return Self.describe(GenericTile.self)
        }
    }

    static func describe<T: MicroTile>(_: T.Type) -> String {
        "\(T.rows)×\(T.columns) tile of SIMD\(T.Vector.lanes)<Float>"
    }
}

private extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

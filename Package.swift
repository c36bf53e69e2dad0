// swift-tools-version: 6.0
import PackageDescription
import Foundation

// The one place that chooses the CPU the kernels are compiled for. The Swift compiler targets
// baseline x86-64 unless told otherwise: no FMA, no AVX, so the SIMD kernels run at a fraction
// of the machine's speed. `native` builds for the machine that compiles; a cluster whose login
// node differs from its compute nodes sets RNN_DIST_TARGET_CPU (e.g. `znver3`, `znver4`,
// `haswell`, `skylake-avx512`, `x86-64` for a portable binary) before `swift build`. The psABI
// level names, which swiftc refuses, are mapped to CPUs that have exactly those features and
// no more that the compiler uses on its own (v3's AVX2 + FMA + BMI: Haswell; v4's AVX-512
// F/BW/CD/DQ/VL: Skylake-AVX512). The kernels pick their register tile from what this compiles
// for and what the running CPU has (`KernelPath`).
let requestedCPU = ProcessInfo.processInfo.environment["RNN_DIST_TARGET_CPU"] ?? "native"
let psABILevels = ["x86-64-v1": "x86-64", "x86-64-v2": "nehalem", "x86-64-v3": "haswell", "x86-64-v4": "skylake-avx512"]
let targetCPU = psABILevels[requestedCPU] ?? requestedCPU
let machineFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", targetCPU])]

let package = Package(
    name: "rnn-dist",
    products: [
        .executable(name: "rnn-dist", targets: ["rnn-dist"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
    ],
    targets: [
        // cpuid and the compile-time feature macros, read by `KernelPath`. Its header's inline
        // functions are compiled where Kernels imports them, with Kernels' target CPU.
        .target(name: "CKernelISA",
                cSettings: [.define("RNN_DIST_TARGET_CPU_NAME", to: "\"\(targetCPU)\"")]),
        .target(
            name: "Kernels",
            dependencies: ["CKernelISA", .product(name: "RealModule", package: "swift-numerics")],
            // The kernels check their arguments once, at entry (`precondition`); inside, the
            // overflow checks of index arithmetic would sit in the innermost loops.
            swiftSettings: machineFlags + [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .target(name: "Model", dependencies: ["Kernels", .product(name: "RealModule", package: "swift-numerics")],
                swiftSettings: machineFlags),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "CMPIShim", dependencies: ["CMPI"]),
        .target(name: "Distributed", dependencies: ["CMPIShim", "CMPI"], swiftSettings: machineFlags),
        .target(name: "Training", dependencies: ["Model", "Distributed"], swiftSettings: machineFlags),
        .executableTarget(
            name: "rnn-dist",
            dependencies: ["Training", "Kernels", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: machineFlags),

        .target(name: "TestSupport", dependencies: ["Model"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["rnn-dist", "TestSupport"]),
        .testTarget(name: "MPITests", dependencies: ["rnn-dist", "TestSupport"]),
    ]
)

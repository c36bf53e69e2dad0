// swift-tools-version: 6.0
import PackageDescription
import Foundation

// The one place that chooses the CPU the kernels are compiled for. The Swift compiler targets
// baseline x86-64 unless told otherwise: no FMA, no AVX, so SIMD16<Float> code runs at a
// fraction of the machine's speed. `native` builds for the machine that compiles; a cluster
// whose login node differs from its compute nodes sets RNN_DIST_TARGET_CPU (e.g. `znver4`,
// `skylake-avx512`, `x86-64` for a portable binary) before `swift build`.
let targetCPU = ProcessInfo.processInfo.environment["RNN_DIST_TARGET_CPU"] ?? "native"
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
        .target(
            name: "Kernels",
            dependencies: [.product(name: "RealModule", package: "swift-numerics")],
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
            dependencies: ["Training", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: machineFlags),

        .target(name: "TestSupport", dependencies: ["Model"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["rnn-dist", "TestSupport"]),
        .testTarget(name: "MPITests", dependencies: ["rnn-dist", "TestSupport"]),
    ]
)

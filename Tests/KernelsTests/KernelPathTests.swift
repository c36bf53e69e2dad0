import XCTest
import Kernels

/// How the kernel path is chosen: RNN_DIST_KERNEL's values, and what the build and the CPU allow.
final class KernelPathTests: XCTestCase {
    func testAutomaticChoiceIsTheWidestRunnablePath() throws {
        let choice = try KernelPath.select(requested: nil).get()
        XCTAssertEqual(choice.path, KernelPath.runnable.first)
        XCTAssertTrue(choice.description.hasPrefix("kernels: \(choice.path.rawValue) ("), choice.description)
        XCTAssertTrue(choice.description.contains(choice.path.tileDescription), choice.description)
    }

    func testEveryRunnablePathCanBeForced() throws {
        for path in KernelPath.runnable {
            let choice = try KernelPath.select(requested: path.rawValue).get()
            XCTAssertEqual(choice.path, path)
            XCTAssertTrue(choice.description.contains("RNN_DIST_KERNEL"), choice.description)
        }
    }

    func testPathsTheMachineCannotRunAreRefusedWithAReason() {
        for path in KernelPath.allCases where !path.isRunnable {
            guard case .failure(let error) = KernelPath.select(requested: path.rawValue) else {
                return XCTFail("\(path) accepted although not runnable")
            }
            XCTAssertTrue(error.message.hasPrefix("RNN_DIST_KERNEL=\(path.rawValue): "), error.message)
        }
        guard case .failure(let error) = KernelPath.select(requested: "sse9") else { return XCTFail("sse9 accepted") }
        XCTAssertTrue(error.message.contains("avx512, avx2, neon or generic"), error.message)
    }

    func testTilesAreDescribedPerISA() {
        #if arch(x86_64)
        XCTAssertEqual(KernelPath.avx512.tileDescription, "8×32 tile of SIMD16<Float>")
        XCTAssertEqual(KernelPath.avx2.tileDescription, "6×16 tile of SIMD8<Float>")
        XCTAssertFalse(KernelPath.neon.isBuilt)
        #endif
        XCTAssertEqual(KernelPath.generic.tileDescription, "4×8 tile of SIMD4<Float>")
    }
}

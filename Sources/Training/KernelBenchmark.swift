import Foundation
import Kernels
import Model

/// GFLOP/s of the products one training step of model B (H 512, V 65, B 64 × T 50) runs, each
/// timed alone: where the step's time goes.
public enum KernelBenchmark {
    public struct Shape: Sendable {
        public let name: String
        public let m, n, k: Int
        public let transposeA, transposeB, prepacked: Bool
        /// C += … as training runs it, or C = … (which saves reading C).
        public let accumulate: Bool
    }

    public static let shapes = [
        Shape(name: "recurrence h·Whᵀ (per step)", m: 64, n: 512, k: 512, transposeA: false, transposeB: true, prepacked: true, accumulate: true),
        Shape(name: "recurrence dz·Wh (per step)", m: 64, n: 512, k: 512, transposeA: false, transposeB: false, prepacked: true, accumulate: false),
        Shape(name: "dWh = dZᵀ·H", m: 512, n: 512, k: 3200, transposeA: true, transposeB: false, prepacked: false, accumulate: true),
        Shape(name: "logits = H·Uᵀ", m: 3200, n: 65, k: 512, transposeA: false, transposeB: true, prepacked: false, accumulate: false),
        Shape(name: "dU = dθᵀ·H", m: 65, n: 512, k: 3200, transposeA: true, transposeB: false, prepacked: false, accumulate: true),
        Shape(name: "dH = dθ·U", m: 3200, n: 512, k: 65, transposeA: false, transposeB: false, prepacked: false, accumulate: false),
    ]

    /// (shape, GFLOP/s) for each shape with `threads` threads on the chosen kernel path: the
    /// best of 24 windows, each product run with the `accumulate` training gives it.
    public static func run(threads: Int, seconds: Double = 0.3) -> [(Shape, Double)] {
        shapes.map { shape in
            // Operands in the model's own buffers (cache-line aligned), as training has them.
            let (a, b, c) = (FlatBuffer<Float>(count: shape.m * shape.k), FlatBuffer<Float>(count: shape.k * shape.n),
                             FlatBuffer<Float>(count: shape.m * shape.n))
            a.base.update(repeating: 0.5, count: a.count)
            b.base.update(repeating: 0.25, count: b.count)
            let packed = PackedMatrix<Float>()   // the recurrent weight, packed once per step in training
            let (lda, ldb) = (shape.transposeA ? shape.m : shape.k, shape.transposeB ? shape.k : shape.n)
            if shape.prepacked {
                packed.pack(b.base, ldb: ldb, transposed: shape.transposeB, k: shape.k, n: shape.n,
                            kBlockRows: recurrentKBlock)
            }
            func once() {
                if shape.prepacked {
                    gemm(m: shape.m, a: a.base, lda: lda, transposeA: shape.transposeA, packed: packed, c: c.base, ldc: shape.n,
                         accumulate: shape.accumulate, threads: threads)
                } else {
                    gemm(m: shape.m, n: shape.n, k: shape.k, a: a.base, lda: lda, transposeA: shape.transposeA, b: b.base, ldb: ldb,
                         transposeB: shape.transposeB, c: c.base, ldc: shape.n, accumulate: shape.accumulate, threads: threads)
                }
            }
            once()
            // The best of short windows: on a shared machine other tenants only ever slow a
            // window down, so the fastest one is the closest to what the kernel can do.
            var best = 0.0
            let windows = 24
            for _ in 0..<windows {
                var calls = 0
                let start = Date()
                while Date().timeIntervalSince(start) < seconds / Double(windows) {
                    once()
                    calls += 1
                }
                let flops = 2.0 * Double(shape.m * shape.n * shape.k) * Double(calls)
                best = max(best, flops / Date().timeIntervalSince(start) / 1e9)
            }
            return (shape, best)
        }
    }
}

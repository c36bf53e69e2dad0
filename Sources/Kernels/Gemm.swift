/// Matrix products, BLAS style: C (m×n) = op(A) (m×k) · op(B) (k×n), or C += … when
/// `accumulate`. Matrices are row-major with leading dimensions `lda`, `ldb`, `ldc`;
/// `transposeA` reads A stored as (k×m), `transposeB` reads B stored as (n×k). The RNN needs
/// three forms: C += A·B, C += Aᵀ·B (weight gradients over all B·T positions), C += A·Bᵀ
/// (products with a weight stored (out, in)).
///
/// `Float` runs the SIMD kernel (`GemmFloatKernel.swift`) with the register tile of `path`
/// (by default the one chosen for this process, `KernelPath.current`), split over up to
/// `threads` threads (products too small to pay for a second thread run on one); every other
/// scalar runs `naiveGemm`, the reference twin the tests compare against.
@inlinable
public func gemm<S: KernelScalar>(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<S>, lda: Int, transposeA: Bool = false,
    b: UnsafePointer<S>, ldb: Int, transposeB: Bool = false,
    c: UnsafeMutablePointer<S>, ldc: Int,
    accumulate: Bool, threads: Int = 1, path: KernelPath = .current
) {
    precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative dimension")
    precondition(lda >= (transposeA ? m : k) && ldb >= (transposeB ? k : n) && ldc >= n,
                 "gemm: leading dimension smaller than the matrix")
    if S.self == Float.self {
        fastFloatGemm(
            m: m, n: n, k: k,
            a: UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), lda: lda, transposeA: transposeA,
            b: UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), ldb: ldb, transposeB: transposeB,
            c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc: ldc,
            accumulate: accumulate, threads: threads, path: path)
    } else {
        naiveGemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA,
                  b: b, ldb: ldb, transposeB: transposeB, c: c, ldc: ldc, accumulate: accumulate)
    }
}

/// The reference product: three loops, one dot product per output, no blocking. Slow and
/// obviously right; the fast kernel must agree with it to rounding.
@inlinable
public func naiveGemm<S: KernelScalar>(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<S>, lda: Int, transposeA: Bool = false,
    b: UnsafePointer<S>, ldb: Int, transposeB: Bool = false,
    c: UnsafeMutablePointer<S>, ldc: Int,
    accumulate: Bool
) {
    for i in 0..<m {
        for j in 0..<n {
            var sum: S = 0
            for p in 0..<k {
                let aip = transposeA ? a[p * lda + i] : a[i * lda + p]
                let bpj = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                sum += aip * bpj
            }
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum
        }
    }
}

/// The right operand op(B) (k×n) of `gemm`, prepared once and reused: the recurrent weight is
/// multiplied 2·T times per chunk by a few rows each, and packing it every time would cost more
/// than the product (for Float, packing reads H² floats, the product only does rows·H² FMAs).
///
/// For Float the storage is the micro-kernel's layout: for each k-block of `kBlock` rows,
/// panels of 32 columns contiguous over k, zero-padded on the right. For other scalars it is
/// op(B) as a dense (k×n) row-major copy, for `naiveGemm`.
public final class PackedMatrix<S: KernelScalar>: @unchecked Sendable {
    public private(set) var k = 0
    public private(set) var n = 0
    @usableFromInline var storage: UnsafeMutablePointer<S>
    private var capacity: Int

    public init() {
        capacity = 0
        storage = .allocate(capacity: 1)
    }

    deinit { storage.deallocate() }

    /// How many scalars the layout of a (k×n) operand takes.
    static func storageSize(k: Int, n: Int) -> Int {
        S.self == Float.self ? k * panelCount(n) * panelWidth : k * n
    }

    /// Packs op(B): B stored (k×n) with leading dimension `ldb`, or (n×k) when `transposed`.
    /// Reuses the storage when it is large enough (no allocation step after step).
    public func pack(_ b: UnsafePointer<S>, ldb: Int, transposed: Bool, k: Int, n: Int, threads: Int = 1) {
        precondition(k >= 0 && n >= 0 && ldb >= (transposed ? k : n), "pack: bad shape")
        let size = Self.storageSize(k: k, n: n)
        if size > capacity {
            storage.deallocate()
            storage = .allocate(capacity: max(size, 1))
            capacity = size
        }
        self.k = k
        self.n = n
        if S.self == Float.self {
            packPanels(UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), ldb: ldb, transposed: transposed,
                       k: k, n: n, into: UnsafeMutableRawPointer(storage).assumingMemoryBound(to: Float.self),
                       threads: threads)
        } else {
            for p in 0..<k {
                for j in 0..<n { storage[p * n + j] = transposed ? b[j * ldb + p] : b[p * ldb + j] }
            }
        }
    }
}

/// C (m×n) (+)= op(A) (m×k) · B, with B already packed.
@inlinable
public func gemm<S: KernelScalar>(
    m: Int, a: UnsafePointer<S>, lda: Int, transposeA: Bool = false,
    packed b: PackedMatrix<S>,
    c: UnsafeMutablePointer<S>, ldc: Int, accumulate: Bool, threads: Int = 1
) {
    let (n, k) = (b.n, b.k)
    precondition(lda >= (transposeA ? m : k) && ldc >= n, "gemm: leading dimension smaller than the matrix")
    if S.self == Float.self {
        packedFloatGemm(m: m, n: n, k: k,
                        a: UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), lda: lda, transposeA: transposeA,
                        packed: UnsafeRawPointer(b.storage).assumingMemoryBound(to: Float.self),
                        c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc: ldc,
                        accumulate: accumulate, threads: threads)
    } else {
        naiveGemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: b.storage, ldb: n,
                  c: c, ldc: ldc, accumulate: accumulate)
    }
}

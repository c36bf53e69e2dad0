/// The right operand op(B) (k×n) of `gemm`, prepared once and reused: the recurrent weight is
/// multiplied 2·T times per chunk by a few rows each, and packing it every time would cost more
/// than the product (for Float, packing reads H² floats, the product only does rows·H² FMAs).
///
/// For Float the storage is the micro-kernel's layout for the `path` it was packed for: for each
/// k-block of `kBlockRows` rows, panels of the tile's width contiguous over k, zero-padded on the
/// right; products with it run on that path. For other scalars it is op(B) as a dense (k×n)
/// row-major copy, for `naiveGemm`.
public final class PackedMatrix<S: KernelScalar>: @unchecked Sendable {
    public private(set) var k = 0
    public private(set) var n = 0
    public private(set) var path = KernelPath.generic
    /// Rows of op(B) per k-block of the Float layout, as `pack` was given them.
    public private(set) var kBlockRows = kBlock
    @usableFromInline var storage: UnsafeMutablePointer<S>
    private var capacity: Int

    public init() {
        capacity = 0
        storage = .allocateCacheAligned(capacity: 1)
    }

    deinit { storage.deallocate() }

    /// How many scalars the layout of a (k×n) operand takes.
    static func storageSize(k: Int, n: Int, path: KernelPath) -> Int {
        S.self == Float.self ? packedSize(k: k, n: n, path: path) : k * n
    }

    /// Packs op(B): B stored (k×n) with leading dimension `ldb`, or (n×k) when `transposed`, in
    /// k-blocks of `kBlockRows` rows (`recurrentKBlock` for a recurrent weight; a product summed
    /// over positions keeps the default, as every other layout does). Reuses the storage when
    /// it is large enough (no allocation step after step).
    public func pack(_ b: UnsafePointer<S>, ldb: Int, transposed: Bool, k: Int, n: Int, threads: Int = 1,
                     path: KernelPath = .current, kBlockRows: Int = kBlock) {
        precondition(k >= 0 && n >= 0 && ldb >= (transposed ? k : n) && kBlockRows > 0, "pack: bad shape")
        let size = Self.storageSize(k: k, n: n, path: path)
        if size > capacity {
            storage.deallocate()
            storage = .allocateCacheAligned(capacity: size)
            capacity = size
        }
        self.k = k
        self.n = n
        self.path = path
        self.kBlockRows = kBlockRows
        if S.self == Float.self {
            packPanels(UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), ldb: ldb, transposed: transposed,
                       k: k, n: n, kBlockRows: kBlockRows, into: UnsafeMutableRawPointer(storage).assumingMemoryBound(to: Float.self),
                       threads: threads, path: path)
        } else {
            for p in 0..<k {
                for j in 0..<n { storage[p * n + j] = transposed ? b[j * ldb + p] : b[p * ldb + j] }
            }
        }
    }
}

/// C (m×n) (+)= op(A) (m×k) · B, with B already packed (and on the path it was packed for).
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
                        packed: UnsafeRawPointer(b.storage).assumingMemoryBound(to: Float.self), kBlockRows: b.kBlockRows,
                        c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc: ldc,
                        accumulate: accumulate, threads: threads, path: b.path)
    } else {
        naiveGemm(m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: b.storage, ldb: n,
                  c: c, ldc: ldc, accumulate: accumulate)
    }
}

import CMPI
import CMPIShim
#if canImport(Glibc)
import Glibc
#endif

/// An MPI call that failed, with MPI's own description of the error code.
public struct MPIError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32
    public let message: String
    public var description: String { "\(call) failed: \(message) (MPI error \(code))" }
}

/// An MPI_Iallreduce in flight.
final class MPIPendingReduction: PendingReduction {
    private var request: MPI_Request?
    init(request: MPI_Request?) { self.request = request }

    func wait() throws {
        guard request != nil else { return }
        try MPICommunicator.check("MPI_Wait", MPI_Wait(&request, cmpi_status_ignore()))
        request = nil
    }

    func test() throws -> Bool {
        guard request != nil else { return true }
        var done: Int32 = 0
        try MPICommunicator.check("MPI_Test", MPI_Test(&request, &done, cmpi_status_ignore()))
        if done != 0 { request = nil }
        return done != 0
    }
}

/// The communicator of a job started by `mpirun` (or srun): OpenMPI's MPI_COMM_WORLD.
///
/// MPI is initialised with MPI_THREAD_FUNNELED — only the main thread calls MPI; the Dispatch
/// workers of the kernels never do — and with MPI_ERRORS_RETURN, so that a failed call becomes
/// a Swift error with MPI_Error_string's text instead of OpenMPI's default abort.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    public let ranksOnNode: Int
    private let world: MPI_Comm
    /// The sum of bfloat16 values (`BFloat16.accumulate`), a user-defined MPI operation.
    private var bfloat16Sum: MPI_Op?
    private var finalized = false

    public init() throws {
        var provided: Int32 = 0
        let status = MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided)
        guard status == MPI_SUCCESS else {
            throw MPIError(call: "MPI_Init_thread", code: status, message: "MPI could not start")
        }
        world = cmpi_comm_world()
        try Self.check("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(world, cmpi_errors_return()))
        var value: Int32 = 0
        try Self.check("MPI_Comm_rank", MPI_Comm_rank(world, &value))
        rank = Int(value)
        try Self.check("MPI_Comm_size", MPI_Comm_size(world, &value))
        size = Int(value)
        // The ranks that share this machine: a communicator split by shared memory.
        var node: MPI_Comm? = nil
        try Self.check("MPI_Comm_split_type",
                       MPI_Comm_split_type(world, cmpi_comm_type_shared(), Int32(rank), cmpi_info_null(), &node))
        try Self.check("MPI_Comm_size", MPI_Comm_size(node, &value))
        ranksOnNode = Int(value)
        try Self.check("MPI_Comm_free", MPI_Comm_free(&node))
        // Commutative (1): MPI may combine the partial sums in any order; float addition
        // commutes exactly, and the tree is the same on every rank.
        try Self.check("MPI_Op_create", MPI_Op_create({ input, sum, length, _ in
            guard let input, let sum, let length else { return }
            BFloat16.accumulate(input.assumingMemoryBound(to: UInt16.self),
                                into: sum.assumingMemoryBound(to: UInt16.self), count: Int(length.pointee))
        }, 1, &bfloat16Sum))
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {   // MPI counts are Int32
            let count = min(buffer.count - offset, Int(Int32.max))
            try Self.check("MPI_Allreduce", MPI_Allreduce(cmpi_in_place(), base + offset, Int32(count),
                                                          cmpi_float(), cmpi_sum(), world))
            offset += count
        }
    }

    public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return CompletedReduction() }
        guard buffer.count <= Int(Int32.max) else {   // MPI counts are Int32: do it now, in pieces
            try allreduceSum(buffer)
            return CompletedReduction()
        }
        var request: MPI_Request? = nil
        try Self.check("MPI_Iallreduce", MPI_Iallreduce(cmpi_in_place(), base, Int32(buffer.count), cmpi_float(),
                                                        cmpi_sum(), world, &request))
        return MPIPendingReduction(request: request)
    }

    public func startAllreduceBFloat16Sum(_ buffer: UnsafeMutableBufferPointer<UInt16>) throws -> PendingReduction {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return CompletedReduction() }
        precondition(buffer.count <= Int(Int32.max), "a bfloat16 reduction of more than 2³¹ − 1 values")
        var request: MPI_Request? = nil
        try Self.check("MPI_Iallreduce", MPI_Iallreduce(cmpi_in_place(), base, Int32(buffer.count), cmpi_uint16(),
                                                        bfloat16Sum, world, &request))
        return MPIPendingReduction(request: request)
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let count = min(buffer.count - offset, Int(Int32.max))
            try Self.check("MPI_Bcast", MPI_Bcast(base + offset, Int32(count), cmpi_byte(), Int32(root), world))
            offset += count
        }
    }

    public func abort(code: Int32) -> Never {
        MPI_Abort(world, code)
        exit(code)  // MPI_Abort does not return; this satisfies the type checker
    }

    /// Ends MPI for this process; call once, after the last collective.
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        if bfloat16Sum != nil { MPI_Op_free(&bfloat16Sum) }
        MPI_Finalize()
    }

    static func check(_ call: String, _ code: Int32) throws {
        guard code != MPI_SUCCESS else { return }
        var text = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        let message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw MPIError(call: call, code: code, message: message)
    }
}

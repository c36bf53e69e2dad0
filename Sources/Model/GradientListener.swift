/// What a backward pass (`LanguageModel.run`) tells its caller while it runs, so that a
/// data-parallel trainer can start reducing each part of the gradient across ranks the moment
/// it is final, and keep those reductions moving while the rest is computed — over TCP a
/// non-blocking collective advances only while the process is inside the MPI library.
///
/// The recurrent layers report, top layer first: their input weights and biases as soon as
/// BPTT has ended, then the recurrent weight's gradient dWh = Σ_t dR_tᵀ h_{t−1} block of output
/// rows by block of output rows as each block is computed (`RecurrentLayer.backward`). Every
/// value of a reported range is final for the pass: exact, nothing stale.
public protocol GradientListener: AnyObject, Sendable {
    /// Elements `range` of the gradient buffer (the parameters' layout) hold their final
    /// value for this pass and will not be written again by it.
    func gradientsFinal(_ range: Range<Int>)

    /// A moment between two pieces of work. Called often (every time step of BPTT), and from
    /// any of the pass's threads: it must return quickly and act only where it may.
    func poll()
}

/// Writes the checkpoints the loop asks for (`StepEvent.checkpoint`) into the checkpoint
/// directory and says where. Only rank 0 has one; every rank has already taken part in
/// assembling the checkpoint's hidden state.
public final class CheckpointWriter: TrainingObserver {
    let store: CheckpointStore
    let console: Progress

    public init(store: CheckpointStore, console: Progress) {
        self.store = store
        self.console = console
    }

    public func stepFinished(_ event: StepEvent, trainer: Trainer) throws {
        guard let request = event.checkpoint else { return }
        let path = try store.write(request.checkpoint, isBest: request.isBest)
        console.line("checkpoint \(path)\(request.isBest ? " (best validation loss so far)" : "")")
    }
}

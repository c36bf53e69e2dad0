import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Standard output and standard error as rnn-dist writes them: with write(2), so that the reader
/// going away never ends the process. Under mpirun a rank's stdout is a pseudo-terminal and its
/// stderr a pipe, both read by mpirun; when mpirun exits first (a second Ctrl-C, a kill -9, a
/// scheduler that kills only the launcher), the next write fails with EIO or EPIPE, and with
/// SIGPIPE at its default a rank would die mid-stop, before it checkpoints. Foundation's
/// `FileHandle.write` traps on the same errors. Here a stream that fails once is closed for the
/// rest of the run: the text is dropped and training goes on.
public enum Console {
    /// Bit 0: stdout is gone; bit 1: stderr is gone.
    private static let gone = Atomic<UInt8>(0)

    /// Lets a write to a pipe without a reader fail with EPIPE instead of killing the process
    /// (SIGPIPE's default action). Every rank calls this before it can print anything.
    public static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Writes `text` to standard output, or drops it once standard output has failed.
    public static func out(_ text: String) { write(text, to: STDOUT_FILENO, bit: 1) }

    /// Writes `text` to standard error, or drops it once standard error has failed.
    public static func err(_ text: String) { write(text, to: STDERR_FILENO, bit: 2) }

    /// Whether standard output has failed (its reader is gone) and is no longer written.
    public static var isOutputGone: Bool { gone.load(ordering: .relaxed) & 1 != 0 }

    /// Waits for room in the stream before each write, and gives the text up when a stop has
    /// been requested and there is none: a bare mpirun that is sent SIGTERM stops reading its
    /// ranks' output while it waits to signal them (`odls_base_sigkill_timeout`, twice), and a
    /// rank blocked in a write to a full terminal never reached the stop step mpirun's SIGTERM
    /// asked for, so the job lost it to the SIGKILL that followed: 8 runs in 8 of model A at
    /// 800 steps/s (Zen 5, 2026-12-02), ending at the same step 820. poll(2) reports room when
    /// a pipe has a page free (more than a `chunk`) or a terminal any space at all; a write that
    /// then fills the terminal has written part of its text, so a stop signal ends it with a
    /// short count rather than restarting it, and the loop gives up the rest.
    private static func write(_ text: String, to descriptor: Int32, bit: UInt8) {
        guard gone.load(ordering: .relaxed) & bit == 0 else { return }
        let chunk = 2048
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                var room = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                let ready = poll(&room, 1, 100)
                if ready < 0 && errno != EINTR {   // poll itself failed: write no more here
                    gone.bitwiseOr(bit, ordering: .relaxed)
                    return
                }
                if ready <= 0 {   // no room yet, or a signal (poll is never restarted)
                    if StopSignals.isRequested { return }
                    continue
                }
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, min(chunk, bytes.count - offset))
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else if written < 0 && errno == EAGAIN {
                    continue   // a non-blocking descriptor we did not set up: wait for room above
                } else {
                    // EPIPE, EIO, ENOSPC, EBADF...: nobody reads this stream any more.
                    gone.bitwiseOr(bit, ordering: .relaxed)
                    return
                }
            }
        }
    }
}

// An idle wait for async test code that polls: it gives its thread of the concurrency pool back
// while it waits, as a blocking sleep would not.

import Dispatch

/// Returns after `duration`, holding no thread of the concurrency pool meanwhile (two threads on
/// two cores, shared by every test running at once: one blocked stalls half the suite). Unlike
/// `Task.sleep`, it waits out its time in a cancelled task too, so that a loop polling with it
/// never spins.
public func idle(for duration: Duration) async {
    let (seconds, attoseconds) = duration.components
    let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { continuation.resume() }
    }
}

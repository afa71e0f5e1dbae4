import Logging
import MServeHub
import MServeTestSupport
import MServeTesting
import Synchronization
import Testing

/// A list read from the hub every interval: a hub that stops answering is logged once (then
/// rarely), not at every try, and its return once.
struct HubListRefresherTests {
    struct Failure: Error {}

    /// Runs a refresher whose `fetch` answers `[call]` or fails as `answers(call)` says, until
    /// `calls` reads were made; returns the log.
    /// `calls` reads were made; returns the log and how long the refresher ran.
    static func run(
        calls: Int, repeatEvery: Duration, answers: @escaping @Sendable (Int) -> Bool
    ) async throws -> (log: LogRecorder, ran: Duration) {
        let log = LogRecorder()
        let made = Mutex(0)
        let list = Mutex<[Int]>([])
        var refresher = HubListRefresher<[Int]>(
            subject: "allowed keys", refusedMeanwhile: "every peer", hub: "tcp://127.0.0.1:5560",
            fetch: {
                let call = made.withLock { $0 += 1; return $0 }
                guard answers(call) else { throw Failure() }
                return [call >= calls ? 2 : 1]
            },
            current: { list.withLock { $0 } }, apply: { new in list.withLock { $0 = new } }, count: { $0.count },
            logger: log.logger(label: "refresher"))
        refresher.interval = .milliseconds(5)
        refresher.repeatedFailureLogInterval = repeatEvery
        let started = ContinuousClock.now
        let running = Task { try await refresher.run() }
        let done = await eventually { made.withLock { $0 } >= calls }
        running.cancel()
        _ = try? await running.value
        let ran = ContinuousClock.now - started
        #expect(done, "the refresher made \(made.withLock { $0 }) reads")
        return (log, ran)
    }

    @Test func aHubThatStopsAnsweringIsLoggedOnceAndItsReturnOnce() async throws {
        let (log, _) = try await Self.run(calls: 30, repeatEvery: .seconds(60)) { $0 == 1 || $0 >= 30 }
        let messages = log.messages
        #expect(messages.filter { $0 == "cannot refresh the allowed keys; keeping the last list" }.count == 1, "\(messages)")
        #expect(!messages.contains { $0.hasPrefix("still") }, "\(messages)")
        #expect(messages.filter { $0 == "the hub answers again; the allowed keys are read from it" }.count == 1, "\(messages)")
        #expect(messages.filter { $0 == "allowed keys updated from the hub" }.count == 2, "\(messages)")
    }

    @Test func aHubSilentForLongIsLoggedAgainNowAndThen() async throws {
        let (log, ran) = try await Self.run(calls: 60, repeatEvery: .milliseconds(50)) { _ in false }
        let messages = log.messages
        #expect(messages.first == "cannot read the allowed keys from the hub; refusing every peer until it answers", "\(messages)")
        let again = messages.filter { $0 == "still cannot read the allowed keys from the hub; refusing every peer" }.count
        // 59 failed reads 5 ms apart take at least 0.3 s: some repeats, but at most one per 50 ms
        // of the run however slow the machine, not one per read.
        #expect(again >= 1, "\(messages)")
        #expect(Double(again) <= ran / .milliseconds(50) + 1, "\(again) repeats in \(ran): \(messages)")
        #expect(!messages.contains { $0.hasPrefix("the hub answers again") })
    }
}

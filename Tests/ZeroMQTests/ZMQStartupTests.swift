import Foundation

#if canImport(Glibc)
import Glibc
#endif
import Testing
import ZeroMQ

@Suite struct ZMQStartupTests {
    struct StartFailed: Error, Equatable {}

    @Test func waitersBeforeAndAfterTheReportGetTheValue() async throws {
        let startup = ZMQStartup<String>()
        #expect(startup.result == nil)
        async let early = startup.value
        Thread {
            Thread.sleep(forTimeInterval: 0.01)
            startup.succeed("tcp://127.0.0.1:1234")
        }.start()
        #expect(try await early == "tcp://127.0.0.1:1234")
        #expect(try await startup.value == "tcp://127.0.0.1:1234")
        startup.fail(StartFailed())
        #expect(try await startup.value == "tcp://127.0.0.1:1234", "only the first report counts")
    }

    @Test func aFailedStartIsThrownToEveryWaiter() async throws {
        let startup = ZMQStartup<Int>()
        let early = Task { try await startup.value }
        startup.fail(StartFailed())
        await #expect(throws: StartFailed.self) { try await early.value }
        await #expect(throws: StartFailed.self) { try await startup.value }
        #expect(throws: StartFailed.self) { try startup.wait() }
    }

    @Test func aBlockedThreadWakesAtTheReport() throws {
        let startup = ZMQStartup<Int>()
        Thread {
            Thread.sleep(forTimeInterval: 0.01)
            startup.succeed(7)
        }.start()
        #expect(try startup.wait() == 7)
    }

    @Test func aCancelledWaiterStopsWaitingForAReportThatNeverComes() async {
        let startup = ZMQStartup<Int>()
        let waiter = Task { try await startup.value }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }

    @Test func reportMakesTheLoopAndReportsWhatItBound() throws {
        let startup = ZMQStartup<String>()
        let made = try startup.report(\.description) { 42 }
        #expect(made == 42)
        #expect(try startup.wait() == "42")
        let failing = ZMQStartup<String>()
        #expect(throws: StartFailed.self) { try failing.report(\Int.description) { throw StartFailed() } }
        #expect(throws: StartFailed.self) { try failing.wait() }
    }

    @Test func aLoopThreadMakesItsLoopOnItselfAndThrowsItsSetupError() throws {
        let ran = ZMQStartup<Bool>()
        let caller = pthread_self()
        try ZMQLoopThread.start(named: "mserve-test-loop") {
            pthread_self()
        } run: { maker in
            ran.succeed(pthread_equal(maker, pthread_self()) != 0 && pthread_equal(maker, caller) == 0)
        }
        #expect(try ran.wait(), "made and run on the loop's own thread")
        #expect(throws: StartFailed.self) {
            try ZMQLoopThread.start(named: "mserve-test-loop") { () throws -> Int in throw StartFailed() } run: { _ in }
        }
    }
}

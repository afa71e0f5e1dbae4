import Foundation
import MServeProtocol
import POSIXSockets
import QData
import Synchronization
import MServeTestSupport
import Testing
import ZeroMQ

@testable import MServeClient

/// A broker played by a ROUTER socket: it answers each `(id; query)` with `(id; `ok)` (or what
/// `answer` makes of the id and query) on its own thread, and reports its connections' events.
final class EchoBroker: @unchecked Sendable {
    // @unchecked: the socket is used only by the echo thread after init; the monitor only by the
    // test until `stop()`, then by the echo thread, which closes everything as it ends.
    let context: ZMQContext
    let endpoint: String
    private let socket: ZMQSocket
    private let monitor: ZMQMonitor
    private let stopped = Mutex(false)
    private let answer: @Sendable (QValue, QValue) -> QValue
    /// The options of each query received, in order: nil for `(id; query)`.
    let receivedOptions = Mutex<[QValue?]>([])

    init(answer: @escaping @Sendable (QValue, QValue) -> QValue = { id, _ in .list([id, .atom(.symbol("ok"))]) }) throws {
        self.answer = answer
        context = try ZMQContext()
        socket = try ZMQSocket(context: context, type: .router)
        try socket.setLinger(milliseconds: 0)
        try socket.setReceiveTimeout(milliseconds: 50)
        let monitorEndpoint = "inproc://echo-broker-monitor"
        try socket.startMonitor(endpoint: monitorEndpoint, events: [.handshakeSucceeded, .disconnected])
        monitor = try ZMQMonitor(context: context, endpoint: monitorEndpoint)
        try socket.bind("tcp://127.0.0.1:0")
        endpoint = try socket.lastEndpoint
        Thread { [self] in echo() }.start()
    }

    private func echo() {
        defer {
            monitor.close()
            socket.close()
            context.terminate()
        }
        while !stopped.withLock({ $0 }) {
            guard let frames = try? socket.receiveMultipartBytes(), frames.count == 2,
                let message = try? QIPC.decode(frames[1]).value, case .list(let items, _) = message
            else { continue }
            guard items.count == 2 || items.count == 3 else { continue }
            receivedOptions.withLock { $0.append(items.count == 3 ? items[2] : nil) }
            let reply = QIPC.encode(answer(items[0], items[1]), messageType: .async)
            _ = try? socket.send(frames[0], more: true)
            _ = try? socket.send(reply)
        }
    }

    /// The next connection event within `seconds`, waited for without holding a thread of
    /// the concurrency pool.
    func nextEvent(within seconds: Double) async throws -> ZMQMonitorEvents? {
        let end = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < end {
            if let event = try monitor.next(dontWait: true) { return event.event }
            try await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Ends the echo thread, which closes the sockets and the context as it ends; returns at
    /// once rather than wait up to a receive timeout for it on a thread of the concurrency pool.
    func stop() {
        stopped.withLock { $0 = true }
    }
}

@Suite struct QueryClientTests {
    @Test func aQueryIsAnsweredWithItsIDAndResult() async throws {
        let broker = try EchoBroker()
        defer { broker.stop() }
        let client = try QueryClient(endpoint: broker.endpoint)
        defer { client.close() }
        let reply = try await client.send("proc1 `IBM")
        #expect(reply.result == .atom(.symbol("ok")))
        #expect(reply.info == .identity)
    }

    /// A reply over the client's `maxMessageSize` makes libzmq end the connection for good:
    /// the query it answered fails, saying why, and the client connects again, so the next
    /// query is answered (before, every later query failed too).
    @Test func aReplyOverTheClientsLimitFailsItsQueryAndTheClientConnectsAgain() async throws {
        let broker = try EchoBroker { id, query in
            if case .vector(.char(let text), _) = query, text == Array("big".utf8) {
                return .list([id, .vector(.char(Array(repeating: 97, count: 20_000)))])
            }
            return .list([id, .atom(.symbol("ok"))])
        }
        defer { broker.stop() }
        var configuration = ClientConfiguration()
        configuration.maxMessageSize = 10_000
        configuration.deadline = .seconds(60)
        let client = try QueryClient(endpoint: broker.endpoint, configuration: configuration)
        defer { client.close() }
        #expect(try await client.send("small").result == .atom(.symbol("ok")))
        let error = await #expect(throws: ClientError.self) { try await client.send("big") }
        #expect(error?.code == .notConnected)
        #expect(error?.message.contains("over this client's maxMessageSize") == true, "\(String(describing: error))")
        #expect(try await client.send("small").result == .atom(.symbol("ok")))
    }

    /// A query's own deadline goes as the `deadline` option of `(id; query; options)`; a query
    /// without one goes as `(id; query)`, which any broker reads.
    @Test func aQuerysOwnDeadlineGoesAsItsDeadlineOption() async throws {
        let broker = try EchoBroker()
        defer { broker.stop() }
        let client = try QueryClient(endpoint: broker.endpoint)
        defer { client.close() }
        _ = try await client.send("proc1 `IBM", deadline: .milliseconds(1_500))
        _ = try await client.send("proc1 `IBM")
        #expect(
            broker.receivedOptions.withLock { $0 } == [
                .dictionary(keys: .vector(.symbol(["deadline"])), values: .list([.atom(.timespan(1_500_000_000))])), nil,
            ])
    }

    /// With its own deadline a query is waited for that long and a grace, not the client's
    /// configured deadline.
    @Test func aQueryWithItsOwnDeadlineIsGivenUpOnAfterIt() async throws {
        let context = try ZMQContext()
        let silent = try ZMQSocket(context: context, type: .router)
        try silent.setLinger(milliseconds: 0)
        try silent.bind("tcp://127.0.0.1:0")
        defer {
            silent.close()
            context.terminate()
        }
        var configuration = ClientConfiguration()
        configuration.deadline = .seconds(600)
        let client = try QueryClient(endpoint: try silent.lastEndpoint, configuration: configuration)
        defer { client.close() }
        do {
            _ = try await client.send("proc1 `IBM", deadline: .milliseconds(100))
            Issue.record("a silent broker answered")
        } catch let error as ClientError {
            #expect(error.code == .deadlineExceeded)
            // The query's deadline as asked, and the grace apart; not the configuration's.
            #expect(
                error.message.contains("within the client's deadline of 0.1 seconds (and 2.0 seconds of grace);"),
                "\(error.message)")
            // The broker took it over a connection still up: it may be running yet.
            #expect(
                error.message.contains("the connection to the broker stayed up, so the broker took the query")
                    && error.message.contains("the query may still be running"),
                "\(error.message)")
        }
        // A deadline that is not positive is refused before it is sent, as the broker would.
        for deadline in [Duration.zero, .seconds(-1)] {
            let refused = await #expect(throws: ClientError.self) { _ = try await client.send("proc1 `IBM", deadline: deadline) }
            #expect(refused?.code == .invalidOption, "\(String(describing: refused))")
            #expect(refused?.message.contains("the deadline must be positive") == true)
        }
    }

    /// A query over the broker's message limit: libzmq at the broker ends the connection and
    /// no reply comes. At its deadline the client says that the connection ended after the
    /// query was sent, and what ends one so.
    @Test func aQueryWhoseConnectionEndedIsSaidToHaveEndedItAtItsDeadline() async throws {
        let context = try ZMQContext()
        let broker = try ZMQSocket(context: context, type: .router)
        try broker.setLinger(milliseconds: 0)
        try broker.setMaxMessageSize(100)
        try broker.bind("tcp://127.0.0.1:0")
        defer {
            broker.close()
            context.terminate()
        }
        let client = try QueryClient(endpoint: try broker.lastEndpoint)
        defer { client.close() }
        let text = "echo \"" + String(repeating: "a", count: 1_000) + "\""
        let error = await #expect(throws: ClientError.self) { _ = try await client.send(text, deadline: .milliseconds(100)) }
        #expect(error?.code == .deadlineExceeded)
        #expect(
            error?.message.contains("the connection to the broker ended after the query was sent") == true
                && error?.message.contains("a query over the broker's --max-message ends the connection unanswered") == true,
            "\(String(describing: error))")
    }

    /// A query that went out before the broker went (killed mid-query) fails at the connect
    /// timeout saying it may have run, not as a query that never left.
    @Test func aQuerySentBeforeTheBrokerWentIsSaidToHaveMaybeRun() async throws {
        let context = try ZMQContext()
        let broker = try ZMQSocket(context: context, type: .router)
        try broker.setLinger(milliseconds: 0)
        try broker.bind("tcp://127.0.0.1:0")
        defer { context.terminate() }
        var configuration = ClientConfiguration()
        // Long enough for the first connection to come up on a loaded machine: a query that
        // failed before it would never have gone out.
        configuration.connectTimeout = .seconds(5)
        let client = try QueryClient(endpoint: try broker.lastEndpoint, configuration: configuration)
        defer { client.close() }
        let waiting = Task { try await client.send("sleep 3000", deadline: .seconds(60)) }
        // The broker takes the query, then goes without answering. Waited for without holding a
        // thread of the concurrency pool: the task that sends the query needs one.
        #expect(try await broker.receiveFrames(within: .seconds(30)) != nil)
        broker.close()
        let error = await #expect(throws: ClientError.self) { _ = try await waiting.value }
        #expect(error?.code == .notConnected)
        #expect(
            error?.message.hasSuffix(
                "since the connection the query went out on ended; the query may have run (the broker stopped or was killed before it answered)")
                == true,
            "\(String(describing: error))")
    }

    /// A failure is told by the info's `error` entry, never by the result's type: a string
    /// result is a result; `(id; "text"; info)` with `error` throws with the text and the info.
    @Test func aFailureIsToldByTheInfosErrorEntry() async throws {
        let broker = try EchoBroker { id, query in
            let text = query.string ?? ""
            let info = InfoDictionary.dictionary([("routing", .atom(.symbol("")))] + (text.hasPrefix("fail") ? [("error", .string("boom"))] : []))
            return .list([id, .string(text.hasPrefix("fail") ? "boom" : "a string result"), info])
        }
        defer { broker.stop() }
        let client = try QueryClient(endpoint: broker.endpoint)
        defer { client.close() }
        let reply = try await client.send("text[]")
        #expect(reply.result == .string("a string result"))
        await #expect {
            _ = try await client.send("fail[]")
        } throws: { error in
            guard let error = error as? ClientError, error.code == .queryFailed, let info = error.info else { return false }
            return error.message == "boom" && InfoDictionary.failure(in: info) == "boom"
        }
    }

    @Test func aQueryOverTheBrokersLimitFailsAtOnceAndIsNotSent() async throws {
        #expect(ClientConfiguration().maxQuerySize == 64 << 20, "the broker's default --max-message")
        let broker = try EchoBroker()
        defer { broker.stop() }
        var configuration = ClientConfiguration()
        configuration.maxQuerySize = 1_000
        configuration.deadline = .seconds(30)
        let client = try QueryClient(endpoint: broker.endpoint, configuration: configuration)
        defer { client.close() }
        await #expect {
            _ = try await client.send("proc1 \"" + String(repeating: "x", count: 2_000) + "\"")
        } throws: { error in
            guard let error = error as? ClientError, error.code == .queryTooLarge else { return false }
            return error.message.contains("more than the 1000 a broker takes (its --max-message)")
        }
        // Within the limit, queries go as ever.
        #expect(try await client.send("proc1 `IBM").result == .atom(.symbol("ok")))
    }

    @Test func aTaskCancelledBeforeItSendsFailsAtOnceAndSendsNothing() async throws {
        let broker = try EchoBroker()
        defer { broker.stop() }
        var configuration = ClientConfiguration()
        configuration.deadline = .seconds(30)
        let client = try QueryClient(endpoint: broker.endpoint, configuration: configuration)
        defer { client.close() }
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await client.send("proc1 `IBM")
        }
        let outcome = await cancelled.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        // The client still serves the next query.
        #expect(try await client.send("proc1 `MSFT").result == .atom(.symbol("ok")))
    }

    @Test func sendsRacingWithCloseAllEndAsClosed() async throws {
        // No broker: every query waits, so each must end by the close, none by its deadline.
        var configuration = ClientConfiguration()
        configuration.deadline = .seconds(60)
        let client = try QueryClient(endpoint: "tcp://127.0.0.1:\(LoopbackPort.free())", configuration: configuration)
        let codes = await withTaskGroup(of: ClientError.Code?.self) { group in
            for index in 0..<200 {
                group.addTask {
                    do {
                        _ = try await client.send("proc1 `IBM")
                        return nil
                    } catch {
                        return (error as? ClientError)?.code
                    }
                }
                if index == 100 { client.close() }
            }
            var codes: [ClientError.Code?] = []
            for await code in group { codes.append(code) }
            return codes
        }
        #expect(codes.count == 200)
        #expect(codes.allSatisfy { $0 == .closed })
    }

    @Test func aSendAfterCloseFailsWithClosed() async throws {
        let client = try QueryClient(endpoint: "tcp://127.0.0.1:\(LoopbackPort.free())")
        client.close()
        await #expect {
            _ = try await client.send("proc1 `IBM")
        } throws: { error in
            (error as? ClientError)?.code == .closed
        }
    }

    @Test func aClientNoLongerReferencedClosesItsConnection() async throws {
        let broker = try EchoBroker()
        defer { broker.stop() }
        do {
            let client = try QueryClient(endpoint: broker.endpoint)
            #expect(try await client.send("proc1 `IBM").result == .atom(.symbol("ok")))
            #expect(try await broker.nextEvent(within: 10) == .handshakeSucceeded)
        }
        #expect(try await broker.nextEvent(within: 10) == .disconnected)
    }
}

import Foundation
import MServeClient
import QData
import MServeTestSupport
import MServeTesting
import Testing

extension IntegrationTests {
/// A broker that dies and comes back on the same port: servants and clients reconnect by
/// themselves; a query in flight when it died fails at the client's deadline, never hangs.
@Suite struct BrokerRestartTests {
    @Test func clientsAndServantsCarryOnWithARestartedBroker() async throws {
        let servant = try await MServeProcess("servant", ["servant", "--bind", "tcp://127.0.0.1:0"])
        defer { servant.stop() }
        let brokerArguments = ["--servant", servant.endpoint, "--heartbeat", "0.2", "--liveness", "0.8"]
        let broker = try await MServeProcess("broker", ["broker", "--clients", "tcp://127.0.0.1:0"] + brokerArguments)
        // Answers that must come get a minute: a loaded machine may take seconds to start a
        // broker and bring its servant in (a 2 s deadline for every query did not allow that).
        var configuration = ClientConfiguration()
        configuration.deadline = .seconds(60)
        let client = try QueryClient(endpoint: broker.endpoint, configuration: configuration)
        defer { client.close() }
        #expect(try await client.send("echo 1").result == .atom(.long(1)))

        // The query in flight has a deadline of its own, and runs longer than it at the servant.
        let inFlight = Task { try await client.send("sleep 3000", deadline: .seconds(2)) }
        try await Task.sleep(for: .milliseconds(200))
        await broker.crash()
        await #expect {
            try await inFlight.value
        } throws: { error in
            (error as? ClientError)?.code == .deadlineExceeded
        }

        let restarted = try await MServeProcess(
            "restarted broker", ["broker", "--clients", broker.endpoint] + brokerArguments)
        defer { restarted.stop() }
        #expect(try await client.send("echo 2").result == .atom(.long(2)))
        // The servant saw a HELLO from each broker.
        #expect(servant.logs.occurrences(of: "broker connected") == 2)
    }

    @Test func sendExitsNonZeroWhenNoBrokerAnswers() async throws {
        let broker = try await MServeProcess("broker", ["broker", "--clients", "tcp://127.0.0.1:0"])
        let endpoint = broker.endpoint
        await broker.crash()

        let run = try await CommandRun.mserve(["send", "--broker", endpoint, "--deadline", "1", "echo 1"])
        #expect(run.status == 1)
        #expect(run.errors.contains("no reply within the client's deadline"), "\(run.errors)")
        #expect(run.errors.contains("is the broker running"))
        #expect(run.output.isEmpty)
    }

    @Test func sendGivesUpOnABrokerThatIsNotThereWithinItsConnectTimeout() async throws {
        let broker = try await MServeProcess("broker", ["broker", "--clients", "tcp://127.0.0.1:0"])
        let endpoint = broker.endpoint
        await broker.crash()

        let started = ContinuousClock.now
        let run = try await CommandRun.mserve(["send", "--broker", endpoint, "--connect-timeout", "0.5", "echo 1"])
        #expect(run.status == 1)
        #expect(run.errors.contains("no connection to the broker"), "\(run.errors)")
        #expect(run.errors.contains("no connection to the broker at \(endpoint)"), "\(run.errors)")
        // Not the 30-second deadline.
        #expect(ContinuousClock.now - started < .seconds(15))
    }

    @Test func aQueryPastItsDeadlineWhileTheBrokerWasDownNeverRunsLater() async throws {
        // The queries before and after the outage must be answered: they get a minute, as a
        // loaded machine may take seconds to bring a broker's servant in (with 500 ms for every
        // query, one that expired at the client while the restarted broker waited for its
        // servant was answered later, to an id the client no longer knew).
        var configuration = ClientConfiguration()
        configuration.deadline = .seconds(60)
        try await Self.failWhileTheBrokerIsDown(configuration: configuration) { client in
            // Long enough for the client to see the connection go.
            try await Task.sleep(for: .seconds(1))
            await #expect {
                try await client.send("echo 2", deadline: .milliseconds(500))
            } throws: { error in
                (error as? ClientError)?.code == .deadlineExceeded
            }
        }
    }

    @Test func aClientWithAConnectTimeoutFailsFastWhileTheBrokerIsDownAndCarriesOnAfter() async throws {
        var configuration = ClientConfiguration()
        configuration.deadline = .seconds(60)
        configuration.connectTimeout = .milliseconds(500)
        try await Self.failWhileTheBrokerIsDown(configuration: configuration) { client in
            let started = ContinuousClock.now
            await #expect {
                try await client.send("echo 2")
            } throws: { error in
                (error as? ClientError)?.code == .notConnected
            }
            #expect(ContinuousClock.now - started < .seconds(15))
        }
    }

    /// Runs `whileDown` (where queries are meant to fail) with the broker crashed, then
    /// restarts the broker and checks that the client carries on, and that no query that failed
    /// while it was down ever ran: had one reached the restarted broker, its answer would have
    /// come (before the next one's) to an id the client no longer knows.
    static func failWhileTheBrokerIsDown(
        configuration: ClientConfiguration, whileDown: (QueryClient) async throws -> Void
    ) async throws {
        let servant = try await MServeProcess("servant", ["servant", "--bind", "tcp://127.0.0.1:0"])
        defer { servant.stop() }
        let broker = try await MServeProcess(
            "broker", ["broker", "--clients", "tcp://127.0.0.1:0", "--servant", servant.endpoint])
        let log = LogRecorder()
        let client = try QueryClient(
            endpoint: broker.endpoint, configuration: configuration, logger: log.logger(label: "client"))
        defer { client.close() }
        #expect(try await client.send("echo 1").result == .atom(.long(1)))

        await broker.crash()
        try await whileDown(client)

        let restarted = try await MServeProcess(
            "restarted broker", ["broker", "--clients", broker.endpoint, "--servant", servant.endpoint])
        defer { restarted.stop() }
        let answered = await eventually(timeout: .seconds(60)) {
            (try? await client.send("echo 3").result) == .atom(.long(3))
        }
        #expect(answered)
        #expect(try await client.send("echo 4").result == .atom(.long(4)))
        #expect(!log.messages.contains("dropped a reply for an unknown id"), "\(log.messages)")
    }
}
}

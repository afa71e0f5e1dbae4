import Foundation
import MServeClient
import MServeTestSupport
import QData
import Testing

extension IntegrationTests {
/// A broker stopped on SIGTERM answers every query it holds: the queued ones with its shutdown
/// error, the running one with its result once the servant gives it, and it keeps its
/// connections open long enough for clients to read those last replies.
@Suite struct BrokerStopTests {
    /// A SIGTERM that comes while the broker is still starting, before its services run, stops
    /// it as a later one does: cleanly, status 0, with its stop line. It met the default action
    /// before: death by the signal (status 143 in a shell), no log line. The broker is held at
    /// its first log line (a warning: no servants) by a full standard error pipe, so that the
    /// signal comes at that point of its start every round.
    @Test func aSIGTERMWhileStartingStopsTheBrokerCleanly() async throws {
        for round in 1...3 {
            let broker = try SpawnedProcess(
                executable: MServeProcess.executable,
                arguments: ["broker", "--clients", "tcp://127.0.0.1:0", "--status-every", "0"],
                environment: ProcessInfo.processInfo.environment, standardErrorFull: true)
            let held = await eventually { broker.isWritingToAPipe }
            #expect(held, "round \(round): the broker never wrote its first log line")
            kill(broker.pid, SIGTERM)
            let errors = ByteCollector()
            errors.collect(from: broker.standardError)
            let output = ByteCollector()
            output.collect(from: broker.standardOutput)
            await broker.waitUntilExit()
            _ = await errors.waitForEnd()
            let logs = String(decoding: errors.bytes, as: UTF8.self).trimmingCharacters(in: .newlines)
            #expect(broker.terminationStatus == 0, "round \(round): \(logs)")
            #expect(logs.contains("broker stopped"), "round \(round): \(logs)")
        }
    }

    /// `QueryClient` sets `ZMQ_IMMEDIATE`, with which libzmq drops a message received but not
    /// yet read when its connection ends: a broker closing right after its last reply lost it
    /// now and then (the client then reported no connection to the broker).
    @Test func theLastRepliesReachTheirClientBeforeTheBrokerCloses() async throws {
        for round in 1...3 {
            let cluster = try await ProcessCluster.start(servants: 1)
            defer { cluster.stop() }
            #expect(await cluster.allServantsReady())
            var configuration = ClientConfiguration()
            configuration.deadline = .seconds(60)
            let client = try QueryClient(endpoint: cluster.broker.endpoint, configuration: configuration)
            defer { client.close() }

            // One query runs at the servant (one thread), the other waits in the queue; the
            // broker is stopped once its status shows both.
            let first = Task { try await client.send("sleep 1000") }
            let second = Task { try await client.send("sleep 1000") }
            let both = try await eventually(timeout: .seconds(30)) {
                let status = try await client.send(".mserve.status[]")
                let counters = Dictionary(uniqueKeysWithValues: status.result.symbolKeyedPairs ?? [])
                return counters["inFlight"] == .atom(.long(1)) && counters["queued"] == .atom(.long(1))
            }
            #expect(both, "round \(round): the two queries never reached the broker")
            kill(cluster.broker.pid, SIGTERM)
            var results: [QValue] = []
            var errors: [String] = []
            for query in [first, second] {
                do {
                    results.append(try await query.value.result)
                } catch let error as ClientError {
                    errors.append(error.message)
                }
            }
            let lastReplyAt = Date()
            #expect(results == [.atom(.long(1000))], "round \(round): \(results), \(errors)")
            #expect(errors.count == 1 && errors[0].contains("the broker is shutting down"), "round \(round): \(errors)")
            // The broker kept its sockets open a while (250 ms) after that last reply; before,
            // it closed within a few milliseconds. The bound leaves room for this client to be
            // late in seeing the reply on a loaded machine.
            let exited = await eventually(timeout: .seconds(30)) { !cluster.broker.isRunning }
            #expect(exited)
            #expect(Date().timeIntervalSince(lastReplyAt) >= 0.08, "round \(round): the broker closed at once")
        }
    }

    /// A reply sent just before the stop is covered too: with nothing running or queued, a
    /// broker that has answered queries still waits a quarter of a second before it closes,
    /// where it closed at once (a lower bound: load only makes the exit later).
    @Test func aReplySentJustBeforeTheStopIsGivenTimeToBeRead() async throws {
        let cluster = try await ProcessCluster.start(servants: 1)
        defer { cluster.stop() }
        let client = try QueryClient(endpoint: cluster.broker.endpoint)
        defer { client.close() }
        #expect(try await client.send("echo 1").result == .atom(.long(1)))
        let signalled = Date()
        kill(cluster.broker.pid, SIGTERM)
        let exited = await eventually(timeout: .seconds(30)) { !cluster.broker.isRunning }
        #expect(exited)
        #expect(Date().timeIntervalSince(signalled) >= 0.2, "the broker closed at once")
    }
}
}

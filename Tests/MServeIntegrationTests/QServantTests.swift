import Foundation
import MServeProtocol
import MServeClient
import MServeTestSupport
import QData
import Testing

extension IntegrationTests {
    /// q servants: the broker dispatches to kdb+ processes listed as `kdb://host:port`. A
    /// Python stand-in (Tests/Interop/kdb_servant.py, pykx's reader and kola's writer) plays
    /// the q process.
    @Suite struct QServantTests {
        /// The stand-in q servant, a Python process; its standard output is kept.
        final class StandIn: Sendable {
            private let process: SpawnedProcess
            private let output = ByteCollector()
            private let errors = ByteCollector()
            /// The port it listens on.
            let port: Int

            init(python: String, port: Int = 0, arguments: [String] = []) async throws {
                let process = try SpawnedProcess(
                    executable: URL(fileURLWithPath: python),
                    arguments: [KdbDoorTests.interopDirectory.appendingPathComponent("kdb_servant.py").path, "\(port)"] + arguments,
                    environment: ProcessInfo.processInfo.environment)
                self.process = process
                output.collect(from: process.standardOutput)
                errors.collect(from: process.standardError)  // read, so that it never fills
                var found: Int?
                for _ in 0..<3_000 where found == nil {
                    let text = String(decoding: output.bytes, as: UTF8.self)
                    if let newline = text.firstIndex(of: "\n") { found = Int(text[..<newline]) }
                    if !process.isRunning { break }
                    if found == nil { try await Task.sleep(for: .milliseconds(10)) }
                }
                guard let found else {
                    process.kill()
                    throw TestFailure("the q servant stand-in printed no port")
                }
                self.port = found
            }

            /// What it printed so far.
            var printed: String { String(decoding: output.bytes, as: UTF8.self) }

            /// SIGKILL: the q process dies.
            func crash() {
                process.kill()
                process.waitUntilExit()
            }

            deinit {
                process.kill()
            }
        }

        /// The info dictionary's keys and the type of the atom each holds.
        static let infoTypes: [String: QTypeCode] = [
            "routing": .symbol, "servant": .symbol, "elapsed": .timespan, "execution": .timespan,
            "queued": .timespan, "received": .timestamp,
        ]

        /// The stand-in's trades table for `sym`.
        static func checkTrades(_ result: QValue, sym: String) {
            guard case .table(let table, _) = result else {
                Issue.record("expected a table, got \(result)")
                return
            }
            #expect(table.columns == ["time", "sym", "price", "size"])
            guard table.values.count == 4 else { return }
            if case .vector(.timestamp(let times), _) = table.values[0] {
                #expect(times.count == 3)
            } else {
                Issue.record("time is not a timestamp column: \(table.values[0])")
            }
            #expect(table.values[1] == .vector(.symbol([sym, sym, sym])))
            #expect(table.values[2] == .vector(.float([91.88, 90.54, 91.46])))
            #expect(table.values[3] == .vector(.long([4900, 300, 4600])))
        }

        static func checkInfo(_ reply: QueryReply, routing: String, servant: String) {
            for (key, type) in infoTypes {
                if case .atom(let atom)? = reply.info(key) {
                    #expect(atom.typeCode == type, "info key \(key): \(atom)")
                } else {
                    Issue.record("info key \(key) is not an atom: \(String(describing: reply.info(key)))")
                }
            }
            #expect(reply.routing == routing)
            #expect(reply.servant == servant)
        }

        /// A broker whose only servant is `standIn`, with `arguments` added, and a client of it.
        private static func broker(for standIn: StandIn, _ arguments: [String]) async throws -> (MServeProcess, QueryClient) {
            let broker = try await MServeProcess(
                "broker",
                ["broker", "--clients", "tcp://127.0.0.1:0", "--servant", "kdb://127.0.0.1:\(standIn.port)"] + arguments)
            do {
                return (broker, try QueryClient(endpoint: broker.endpoint))
            } catch {
                await broker.stop()
                throw error
            }
        }

        /// A q servant's result over the broker's `--max-message` fails its query with the size,
        /// as a ZeroMQ servant's does; it is not run again elsewhere, nor left to its deadline
        /// when it came compressed (q compresses what it sends to other hosts).
        @Test func aQServantsResultOverTheLimitFailsItsQuery() async throws {
            guard let python = KdbDoorTests.requirePython() else { return }
            let standIn = try await StandIn(python: python)
            defer { standIn.crash() }
            let (broker, client) = try await Self.broker(for: standIn, ["--max-message", "100000", "--deadline", "30"])
            defer {
                client.close()
                broker.stop()
            }
            // Not the deadline's error (30 s): the size's, at once.
            let compressed = await #expect(throws: ClientError.self) { _ = try await client.send("zbig1 2000000") }
            #expect(
                compressed?.message.contains("the result is 2000000 bytes as IPC, over the 100000-byte message limit") == true,
                "\(String(describing: compressed))")
            let plain = await #expect(throws: ClientError.self) { _ = try await client.send("big1 200000") }
            #expect(
                plain?.message.contains("the result is 200029 bytes as IPC, over the 100000-byte message limit") == true,
                "\(String(describing: plain))")
            // The connection that could not skip those bytes is made again: the servant serves on.
            let served = await eventually {
                (try? await client.send("total1 `IBM"))?.result == .atom(.long(9_800))
            }
            #expect(served)
        }

        @Test func aQServantAnswersQueriesThroughTheBroker() async throws {
            guard let python = KdbDoorTests.requirePython() else { return }
            let standIn = try await StandIn(python: python, arguments: ["--user", "alice:wonderland"])
            defer { standIn.crash() }
            let (broker, client) = try await Self.broker(for: standIn, ["--servant-auth", "alice:wonderland"])
            defer {
                client.close()
                broker.stop()
            }
            let name = "127.0.0.1:\(standIn.port)"

            let reply = try await client.send("proc1 `IBM")
            Self.checkTrades(reply.result, sym: "IBM")
            Self.checkInfo(reply, routing: "IBM", servant: name)

            // A parse form, as q clients send it.
            let parsed = try await client.send(query: .list([.atom(.symbol("proc1")), .atom(.symbol("MSFT"))]))
            Self.checkTrades(parsed.result, sym: "MSFT")
            Self.checkInfo(parsed, routing: "MSFT", servant: name)

            // q sends (tag; result) as a long vector when the result is a long.
            let total = try await client.send("total1 `IBM")
            #expect(total.result == .atom(.long(9_800)))
            Self.checkInfo(total, routing: "IBM", servant: name)

            // (tag; result; info): the servant's own info entries are kept.
            let withInfo = try await client.send("info1 `IBM")
            Self.checkTrades(withInfo.result, sym: "IBM")
            Self.checkInfo(withInfo, routing: "IBM", servant: name)
            #expect(withInfo.info("servantName") != nil)

            // A q servant's (tag; 'error) reaches the client as the failure (id; "text"; info),
            // the text under info's `error` key, after the broker's keys.
            await #expect {
                _ = try await client.send("nope1 `IBM")
            } throws: { error in
                guard let error = error as? ClientError, let info = error.info else { return false }
                return error.message == "nope1: no such function"
                    && InfoDictionary.failure(in: info) == "nope1: no such function"
                    && InfoDictionary.symbolKeyedEntries(info)?.map(\.0) == InfoDictionary.brokerKeys + ["error"]
            }
        }

        @Test func wrongServantCredentialsAreRefusedAndRetried() async throws {
            guard let python = KdbDoorTests.requirePython() else { return }
            let standIn = try await StandIn(python: python, arguments: ["--user", "alice:wonderland"])
            defer { standIn.crash() }
            let (broker, client) = try await Self.broker(for: standIn, ["--servant-auth", "alice:guess", "--deadline", "1"])
            defer {
                client.close()
                broker.stop()
            }
            await #expect {
                try await client.send("proc1 `IBM")
            } throws: { error in
                (error as? ClientError)?.message.contains("deadline exceeded") == true
            }
            #expect(broker.logs.contains("refused the login"))
        }

        @Test func aQServantThatDropsAQueryIsFreedAtItsDeadline() async throws {
            guard let python = KdbDoorTests.requirePython() else { return }
            let standIn = try await StandIn(python: python)
            defer { standIn.crash() }
            let (broker, client) = try await Self.broker(for: standIn, ["--deadline", "1"])
            defer {
                client.close()
                broker.stop()
            }
            // q answers nothing when an async handler fails: the deadline answers the client.
            await #expect {
                try await client.send("drop1 `IBM")
            } throws: { error in
                (error as? ClientError)?.message.contains("deadline exceeded") == true
            }
            // The servant is reconnected, which frees it for the next query.
            let reply = try await client.send("proc1 `IBM")
            Self.checkTrades(reply.result, sym: "IBM")
            #expect(broker.logs.contains("no answer before the query's deadline"))
        }

        @Test func killingAQServantMidQueryGivesTheQueryToAnotherAndItIsReconnected() async throws {
            guard let python = KdbDoorTests.requirePython() else { return }
            let holding = try await StandIn(python: python, arguments: ["--hold"])
            let servant = try await MServeProcess("servant", ["servant", "--bind", "tcp://127.0.0.1:0"])
            defer { servant.stop() }
            // orig sends each query to the first free servant in the list: the q servant.
            let broker = try await MServeProcess(
                "broker",
                [
                    "broker", "--clients", "tcp://127.0.0.1:0", "--algorithm", "orig",
                    "--servant", "kdb://127.0.0.1:\(holding.port)", "--servant", servant.endpoint,
                ])
            defer { broker.stop() }
            #expect(await eventually { broker.logs.occurrences(of: "servant ready") >= 2 })
            let client = try QueryClient(endpoint: broker.endpoint)
            defer { client.close() }

            async let answered = client.send("proc1 `IBM")
            #expect(await eventually { holding.printed.contains("holding") })
            holding.crash()
            let reply = try await answered
            #expect(reply.servant == servant.endpoint.replacingOccurrences(of: "tcp://", with: ""))
            #expect(broker.logs.contains("servant lost"))

            // A q servant back on the same port is used again (the broker retries every second).
            let restarted = try await StandIn(python: python, port: holding.port)
            defer { restarted.crash() }
            let qName = "127.0.0.1:\(holding.port)"
            var last: QueryReply?
            let back = await eventually(timeout: .seconds(60)) {
                last = try? await client.send("proc1 `IBM")
                return last?.servant == qName
            }
            #expect(back)
            if let last { Self.checkTrades(last.result, sym: "IBM") }
        }
    }
}

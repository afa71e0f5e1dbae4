import Foundation
import MServeTestSupport
import POSIXSockets
import Testing

extension IntegrationTests {
    /// The example programs beside the library (Sources/MServeExample*) work as their headers
    /// say: the servant serves `vwap` behind a real broker, the client prints the result and
    /// the info dictionary, and both fail with a clear message.
    @Suite struct ExampleProgramTests {
        static let exampleServant = MServeProcess.buildDirectory.appendingPathComponent("mserve-example-servant")
        static let exampleClient = MServeProcess.buildDirectory.appendingPathComponent("mserve-example-client")

        @Test func theExampleServantAnswersTheExampleClientThroughABroker() async throws {
            let servant = try await MServeProcess("example servant", [], executable: Self.exampleServant)
            defer { servant.stop() }
            let broker = try await MServeProcess(
                "broker", ["broker", "--clients", "tcp://127.0.0.1:0", "--servant", servant.endpoint])
            defer { broker.stop() }

            let answered = try await CommandRun.run(Self.exampleClient, ["vwap `IBM", broker.endpoint])
            #expect(answered.status == 0, "\(answered.errors)")
            let lines = answered.output.split(separator: "\n").map(String.init)
            // (91.88 × 4900 + 92.10 × 1200 + 91.95 × 2500) / 8600
            #expect(lines.first == "91.93105", "\(answered.output)")
            #expect(lines.contains("routing: `IBM"), "\(answered.output)")
            #expect(lines.contains { $0.hasPrefix("servant: `127.0.0.1:") }, "\(answered.output)")
            #expect(lines.contains { $0.hasPrefix("execution: 0D00:00:") }, "\(answered.output)")

            let unknown = try await CommandRun.run(Self.exampleClient, ["vwap `XYZ", broker.endpoint])
            #expect(unknown.status == 1)
            #expect(unknown.errors.contains("'vwap: no trades for XYZ"), "\(unknown.errors)")

            // Secure invocation holds for a servant written this way too.
            let refused = try await CommandRun.run(Self.exampleClient, ["system \"ls\"", broker.endpoint])
            #expect(refused.status == 1)
            #expect(refused.errors.contains("system"), "\(refused.errors)")
        }

        @Test func theExampleClientExplainsItsUsageAndAMissingBroker() async throws {
            let usage = try await CommandRun.run(Self.exampleClient, [])
            #expect(usage.status == 64)
            #expect(usage.errors.contains("usage: mserve-example-client QUERY"), "\(usage.errors)")
            // --help is help, not a query to send, nor an endpoint to bind.
            let help = try await CommandRun.run(Self.exampleClient, ["--help"])
            #expect(help.status == 0)
            #expect(help.output.hasPrefix("usage: mserve-example-client QUERY"), "\(help.output) \(help.errors)")
            let servantHelp = try await CommandRun.run(Self.exampleServant, ["--help"])
            #expect(servantHelp.status == 0)
            #expect(servantHelp.output.hasPrefix("usage: mserve-example-servant"), "\(servantHelp.output) \(servantHelp.errors)")

            let noBroker = try await CommandRun.run(
                Self.exampleClient, ["vwap `IBM", "tcp://127.0.0.1:\(LoopbackPort.free())"], timeout: 60)
            #expect(noBroker.status == 1)
            #expect(noBroker.errors.contains("no connection to the broker"), "\(noBroker.errors)")
        }
    
        /// A mistaken argument is a usage error, and an endpoint it cannot bind (a port in use)
        /// an error saying so: never a crash.
        @Test func theExampleServantExplainsAMistakeInsteadOfCrashing() async throws {
            let bogus = try await CommandRun.run(Self.exampleServant, ["--bogus"])
            #expect(bogus.status == 64, "\(bogus.errors)")
            #expect(bogus.errors.contains("unknown option --bogus"), "\(bogus.errors)")
            #expect(bogus.errors.contains("usage: mserve-example-servant"), "\(bogus.errors)")

            let first = try await MServeProcess("example servant", [], executable: Self.exampleServant)
            defer { first.stop() }
            let inUse = try await CommandRun.run(Self.exampleServant, [first.endpoint])
            #expect(inUse.status == 1, "\(inUse.errors)")
            #expect(inUse.errors.contains("mserve-example-servant: cannot bind \(first.endpoint)"), "\(inUse.errors)")
            #expect(!inUse.errors.contains("Fatal error"), "\(inUse.errors)")
        }
    }
}

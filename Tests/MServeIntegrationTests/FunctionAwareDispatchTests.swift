import Foundation
import MServeClient
import MServeTestSupport
import QData
import Testing

extension IntegrationTests {
    /// A rolling upgrade: servants of two versions of an API serve one service side by side.
    /// Each query goes to a servant that serves its function, whatever the algorithm; a
    /// function neither serves is refused by the broker at once.
    @Suite struct FunctionAwareDispatchTests {
        @Test func servantsOfTwoAPIVersionsServeOneServiceSideBySide() async throws {
            // The old version serves echo and pid; the new one adds proc1.
            let old = try await MServeProcess(
                "old servant", ["servant", "--bind", "tcp://127.0.0.1:0", "--allow", "echo,pid"])
            defer { old.stop() }
            let new = try await MServeProcess(
                "new servant", ["servant", "--bind", "tcp://127.0.0.1:0", "--allow", "echo,pid,proc1"])
            defer { new.stop() }
            // `orig` sends everything to the first free servant in the list: the old one.
            let broker = try await MServeProcess(
                "broker",
                ["broker", "--clients", "tcp://127.0.0.1:0", "--algorithm", "orig", "--servant", old.endpoint,
                 "--servant", new.endpoint])
            defer { broker.stop() }
            #expect(await eventually(timeout: .seconds(60)) { broker.logs.occurrences(of: "servant ready") >= 2 })
            let client = try QueryClient(endpoint: broker.endpoint)
            defer { client.close() }

            let oldName = old.endpoint.replacingOccurrences(of: "tcp://", with: "")
            let newName = new.endpoint.replacingOccurrences(of: "tcp://", with: "")
            for _ in 1...3 {
                let trades = try await client.send("proc1 `IBM")
                #expect(trades.servant == newName, "\(trades.infoEntries)")
                #expect(try await client.send("echo 1").servant == oldName)
            }

            await #expect {
                try await client.send("vwap `IBM")
            } throws: { error in
                guard let error = error as? ClientError else { return false }
                return error.code == .queryFailed
                    && error.message
                        == "mserve: no servant of this service serves the function vwap; its functions: echo pid proc1"
            }
        }
    }
}

import Foundation
import MServeClient
import QData
import MServeTestSupport
import Testing

extension IntegrationTests {
/// A servant bound to all interfaces is registered with the address the hub saw it connect
/// from, or the one it advertises; brokers connect to that and name the servant host:port.
@Suite struct ReachableAddressTests {
    @Test func servantsAreRegisteredAtTheirPeerOrAdvertisedAddress() async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("mserve-address-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hub = try await MServeProcess("hub", ["hub", "--bind", "tcp://127.0.0.1:0", "--dir", directory])
        defer { hub.stop() }
        let seen = try await MServeProcess("servant", ["servant", "--bind", "tcp://*:0", "--hub", hub.endpoint])
        defer { seen.stop() }
        let advertised = try await MServeProcess(
            "advertised servant", ["servant", "--bind", "tcp://*:0", "--hub", hub.endpoint, "--advertise", "localhost"])
        defer { advertised.stop() }
        #expect(advertised.endpoint.hasPrefix("tcp://localhost:"))
        let broker = try await MServeProcess(
            "broker", ["broker", "--clients", "tcp://127.0.0.1:0", "--hub", hub.endpoint, "--algorithm", "even"])
        defer { broker.stop() }

        let seenName = "127.0.0.1:\(port(seen.endpoint))"
        let advertisedName = "localhost:\(port(advertised.endpoint))"
        var spokes = ""
        let registered = try await eventually {
            spokes = try await CommandRun.mserve(["hub", "spokes", "--all", "--hub", hub.endpoint]).output
            return spokes.contains("tcp://\(seenName)") && spokes.contains("tcp://\(advertisedName)")
        }
        #expect(registered, "spoke table: \(spokes)")

        let client = try QueryClient(endpoint: broker.endpoint)
        defer { client.close() }
        var names: Set<String> = []
        let sawBoth = try await eventually {
            async let one = client.send("sleep 50")
            async let two = client.send("sleep 50")
            names.formUnion([try await one.servant, try await two.servant].compactMap { $0 })
            return names.isSuperset(of: [seenName, advertisedName])
        }
        #expect(sawBoth, "servants seen: \(names)")
    }

    private func port(_ endpoint: String) -> String {
        String(endpoint.split(separator: ":").last ?? "")
    }
}
}

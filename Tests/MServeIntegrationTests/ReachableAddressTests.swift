import Foundation
import MServeClient
import POSIXSockets
import QData
import MServeTestSupport
import Testing

extension IntegrationTests {
/// A servant is registered with the hub at exactly the endpoint it prints: the address it
/// bound, the host it advertises, or, bound to every interface without --advertise, this host's
/// first address that is not loopback. Brokers connect to that and name the servant host:port.
@Suite struct ReachableAddressTests {
    @Test func servantsAreRegisteredAtTheEndpointTheyPrint() async throws {
        try await withTemporaryDirectory("mserve-address") { directory in
            let hub = try await MServeProcess("hub", ["hub", "--bind", "tcp://127.0.0.1:0", "--dir", directory])
            defer { hub.stop() }
            let everywhere = try await MServeProcess("servant", ["servant", "--bind", "tcp://*:0", "--hub", hub.endpoint])
            defer { everywhere.stop() }
            let hostAddress = IPv4Address.firstNonLoopback() ?? "127.0.0.1"
            #expect(everywhere.endpoint.hasPrefix("tcp://\(hostAddress):"), "\(everywhere.endpoint)")
            let advertised = try await MServeProcess(
                "advertised servant", ["servant", "--bind", "tcp://*:0", "--hub", hub.endpoint, "--advertise", "localhost"])
            defer { advertised.stop() }
            #expect(advertised.endpoint.hasPrefix("tcp://localhost:"))
            // --advertise alone binds that address (loopback's 127.0.0.3 here, not the hub's 127.0.0.1).
            let advertisedOnly = try await MServeProcess(
                "servant advertising 127.0.0.3", ["servant", "--hub", hub.endpoint, "--advertise", "127.0.0.3"])
            defer { advertisedOnly.stop() }
            #expect(advertisedOnly.endpoint.hasPrefix("tcp://127.0.0.3:"), "\(advertisedOnly.endpoint)")
            let bound = try await MServeProcess(
                "servant bound to 127.0.0.4", ["servant", "--hub", hub.endpoint, "--bind", "tcp://127.0.0.4:0"])
            defer { bound.stop() }
            #expect(bound.endpoint.hasPrefix("tcp://127.0.0.4:"), "\(bound.endpoint)")
            let broker = try await MServeProcess(
                "broker", ["broker", "--clients", "tcp://127.0.0.1:0", "--hub", hub.endpoint, "--algorithm", "even"])
            defer { broker.stop() }

            let expected = [everywhere, advertised, advertisedOnly, bound].map { String($0.endpoint.dropFirst("tcp://".count)) }
            var spokes = ""
            let registered = try await eventually {
                spokes = try await CommandRun.mserve(["hub", "spokes", "--all", "--hub", hub.endpoint]).output
                return expected.allSatisfy { spokes.contains("tcp://\($0)") }
            }
            #expect(registered, "printed \(expected), spoke table: \(spokes)")

            let client = try QueryClient(endpoint: broker.endpoint)
            defer { client.close() }
            var names: Set<String> = []
            let sawAll = try await eventually(timeout: .seconds(60)) {
                async let one = client.send("sleep 50")
                async let two = client.send("sleep 50")
                async let three = client.send("sleep 50")
                async let four = client.send("sleep 50")
                names.formUnion(
                    [try await one.servant, try await two.servant, try await three.servant, try await four.servant].compactMap { $0 })
                return names.isSuperset(of: expected)
            }
            #expect(sawAll, "servants seen: \(names), expected \(expected)")
        }
    }

    /// A broker is registered under the address its --clients binds, not the address the hub
    /// sees its connection come from: here it takes clients on 127.0.0.2 and reaches the hub on
    /// 127.0.0.1, and `send --service` reaches it at the endpoint the hub gives. Bound to every
    /// interface, it is registered under the address the hub sees, or, when that is loopback
    /// (the hub on its host), its host's first address that is not loopback, which clients on
    /// other hosts can reach.
    @Test func brokersAreRegisteredAtTheAddressTheyBind() async throws {
        try await withTemporaryDirectory("mserve-address") { directory in
            let hub = try await MServeProcess("hub", ["hub", "--bind", "tcp://127.0.0.1:0", "--dir", directory])
            defer { hub.stop() }
            let servant = try await MServeProcess("servant", ["servant", "--hub", hub.endpoint, "--service", "bound"])
            defer { servant.stop() }
            let bound = try await MServeProcess(
                "broker bound to 127.0.0.2",
                ["broker", "--clients", "tcp://127.0.0.2:0", "--hub", hub.endpoint, "--service", "bound"])
            defer { bound.stop() }
            #expect(bound.endpoint.hasPrefix("tcp://127.0.0.2:"), "\(bound.endpoint)")
            let everywhere = try await MServeProcess(
                "broker bound to every interface",
                ["broker", "--clients", "tcp://*:0", "--hub", hub.endpoint, "--service", "everywhere"])
            defer { everywhere.stop() }

            let hostAddress = IPv4Address.firstNonLoopback() ?? "127.0.0.1"
            let expected = ["bound broker \(bound.endpoint)", "everywhere broker tcp://\(hostAddress):\(port(of: everywhere.endpoint))"]
            var spokes = ""
            let registered = try await eventually {
                spokes = try await CommandRun.mserve(["hub", "spokes", "--hub", hub.endpoint]).output
                let rows = spokes.split(separator: "\n").map { $0.split(whereSeparator: \.isWhitespace).suffix(3).joined(separator: " ") }
                return expected.allSatisfy(rows.contains)
            }
            #expect(registered, "expected \(expected), spoke table: \(spokes)")

            let sent = try await CommandRun.mserve(
                ["send", "--service", "bound", "--hub", hub.endpoint, "--connect-timeout", "10", "echo 7"], timeout: 60)
            #expect(sent.status == 0, "\(sent.errors)")
            #expect(sent.output.contains("7"), "\(sent.output)")
        }
    }

    /// The port of `tcp://HOST:PORT`.
    private func port(of endpoint: String) -> Substring {
        endpoint[endpoint.index(after: endpoint.lastIndex(of: ":")!)...]
    }
}
}

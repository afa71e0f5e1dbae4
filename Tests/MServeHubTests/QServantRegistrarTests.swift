import Foundation
import Logging
import MServeHub
import MServeProtocol
import MServeTestSupport
import POSIXSockets
import QData
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The sidecar that registers a q servant: it keeps a `kdb://` registration while the process
/// accepts TCP connections, reports it down with the reason when it stops, and registers it
/// again when it is back.
struct QServantRegistrarTests {
    /// A TCP listener on loopback (never accepting: the backlog completes the connections).
    final class Listener {
        let descriptor: Int32

        init(port: Int) throws {
            // The descriptor is stored only once it listens: a class whose initializer throws
            // after its stored properties are set is deinitialized, and would close it twice
            // (the second time, perhaps, a descriptor another test has opened since).
            let candidate = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var yes: Int32 = 1
            setsockopt(candidate, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(candidate, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0, listen(candidate, 16) == 0 else {
                close(candidate)
                throw HubError(.socket, "cannot listen on port \(port)")
            }
            descriptor = candidate
        }

        deinit { close(descriptor) }
    }

    @Test func parsesKdbEndpoints() throws {
        #expect(try QServantRegistrar.parse(endpoint: "kdb://127.0.0.1:5001") == ("127.0.0.1", 5001))
        #expect(try QServantRegistrar.parse(endpoint: "kdb://qhost.example:5001") == ("qhost.example", 5001))
        // Brokers reach q servants over IPv4: an IPv6 host is refused, not registered for
        // brokers to retry for ever.
        for bad in ["tcp://127.0.0.1:5001", "kdb://127.0.0.1", "kdb://:5001", "kdb://host:0", "kdb://host:x", "kdb://[::1]:5001"] {
            #expect(throws: HubError.self, "\(bad)") { try QServantRegistrar.parse(endpoint: bad) }
        }
    }

    @Test func theRegistrationKeepsTheKdbSchemeAndTheName() {
        let remote = QServantRegistrar(host: "qhost.example", port: 5001, service: "q", name: "rdb1")
        #expect(remote.registration.endpoint == "kdb://qhost.example:5001")
        #expect(remote.registration.advertisedHost == "qhost.example")
        #expect(remote.registration.commandLine == "rdb1")
        #expect(remote.registration.role == SpokeRole.servant)
        // A loopback host: the hub uses the address it sees the sidecar come from.
        #expect(QServantRegistrar(host: "127.0.0.1", port: 5001, service: "q").registration.advertisedHost == nil)
    }

    @Test func registersWhileTheProcessAcceptsConnectionsAndReportsItDown() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            defer { hub.stop() }
            let port = LoopbackPort.free()
            var listener: Listener? = try Listener(port: port)
            let registrar = QServantRegistrar(
                host: "127.0.0.1", port: port, service: "q", name: "rdb1", hub: fixture.endpoint,
                heartbeatInterval: HubFixture.heartbeat, livenessTimeout: HubFixture.liveness, logger: quietLogger)
            let task = Task { try await registrar.run() }
            defer { task.cancel() }
            let endpoint = "kdb://127.0.0.1:\(port)"

            #expect(await eventually { (try? await fixture.client.resolve("q"))?.map(\.endpoint) == [endpoint] })
            #expect(try await fixture.client.resolve("q").first?.name == "127.0.0.1:\(port)")

            // The q process goes: down at once with the reason, not after missed heartbeats.
            listener = nil
            #expect(await eventually { (try? await fixture.client.resolve("q"))?.isEmpty == true })
            let down = try await fixture.client.table("down")
            guard case .list(let reasons, _)? = down.column("reason") else {
                Issue.record("no reason column in down")
                return
            }
            #expect(reasons.compactMap(\.textValue).contains { $0.contains("does not accept connections") })

            // It comes back: registered again.
            listener = try Listener(port: port)
            #expect(await eventually { (try? await fixture.client.resolve("q"))?.map(\.endpoint) == [endpoint] })
            _ = listener

            // A clean stop deregisters.
            task.cancel()
            try await task.value
            #expect(try await fixture.client.resolve("q").isEmpty)
            hub.stop()
            try await hubTask.value
        }
    }
}

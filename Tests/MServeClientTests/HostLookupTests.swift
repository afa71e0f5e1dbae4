import POSIXSockets
import Testing

@testable import MServeClient

/// The host name a client looks up to tell a name that does not resolve from a broker that is down.
struct HostLookupTests {
    @Test(arguments: [
        ("tcp://broker.example:5570", "broker.example"),
        ("tcp://localhost:5570", "localhost"),
        ("TCP://eth0;broker.example:5570", "broker.example"),
    ])
    func theHostNameOfAnEndpoint(endpoint: String, host: String) {
        #expect(HostLookup.hostName(of: endpoint) == host)
    }

    @Test(arguments: ["tcp://127.0.0.1:5570", "tcp://*:5570", "tcp://[::1]:5570", "tcp://::1:5570", "ipc:///tmp/x", "tcp://host"])
    func addressesAndOtherTransportsNeedNoLookup(endpoint: String) {
        #expect(HostLookup.hostName(of: endpoint) == nil)
    }

    @Test func aNameThatDoesNotResolveIsSaid() async throws {
        let lookup = try #require(HostLookup.start(for: "tcp://no-such-host.invalid:5570"))
        var failure: String? = nil
        for _ in 0..<500 where failure == nil {
            failure = lookup.failure
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(failure?.hasPrefix("the host name no-such-host.invalid does not resolve (") == true, "\(failure ?? "none")")
    }

    @Test func aNameThatResolvesIsNoFailure() async throws {
        let lookup = try #require(HostLookup.start(for: "tcp://localhost:5570"))
        try await Task.sleep(for: .milliseconds(300))
        #expect(lookup.failure == nil)
    }
}

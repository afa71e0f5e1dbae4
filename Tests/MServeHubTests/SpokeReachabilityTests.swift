import MServeHub
import POSIXSockets
import Testing

/// Which endpoints only their own host can reach, and which hubs are on another host: what
/// the servant and broker commands warn about at start.
struct SpokeReachabilityTests {
    /// A resolver with a fixed table: `vm` is a host whose name maps to 127.0.1.1 (Debian's
    /// default), `db1` a host on the network, anything else unknown.
    static func lookUp(_ host: String) -> UInt32? {
        switch host {
        case "vm": IPv4Address.literal("127.0.1.1")
        case "db1": IPv4Address.literal("10.1.2.7")
        case "self": IPv4Address.literal("10.9.9.9")
        default: nil
        }
    }

    /// This host's interface addresses, for the test: 10.9.9.9 alone.
    static func isLocal(_ address: UInt32) -> Bool { address == IPv4Address.literal("10.9.9.9") }

    @Test func thisHostsAddressesIncludeItsLoopbackAndNoTestNetAddress() {
        #expect(IPv4Address.isLocal(IPv4Address.literal("127.0.0.1")!))
        #expect(!IPv4Address.isLocal(IPv4Address.literal("192.0.2.1")!))
    }

    @Test func loopbackAddressesAndNamesThatLookUpToLoopbackListenOnlyForThisHost() {
        for endpoint in [
            "tcp://127.0.0.1:0", "tcp://127.0.0.3:5001", "tcp://localhost:5001", "tcp://[::1]:5001",
            "tcp://vm:5001", "ipc:///tmp/servant", "inproc://servant",
        ] {
            #expect(SpokeReachability.listensOnLoopbackOnly(endpoint, lookUp: Self.lookUp), "\(endpoint)")
        }
        for endpoint in [
            "tcp://10.1.2.7:0", "tcp://*:0", "tcp://0.0.0.0:5001", "tcp://[::]:5001", "tcp://[fe80::1]:5001",
            "tcp://db1:5001", "tcp://unknown-host:5001", "not an endpoint",
        ] {
            #expect(!SpokeReachability.listensOnLoopbackOnly(endpoint, lookUp: Self.lookUp), "\(endpoint)")
        }
    }

    /// libzmq binds an interface name (`tcp://lo:PORT`) at that interface's first IPv4
    /// address: `lo` listens on loopback only, `eth0` where other hosts reach it.
    @Test func anInterfaceNameIsJudgedByTheAddressLibzmqBindsForIt() {
        let interfaces = { (name: String) -> UInt32? in
            switch name {
            case "lo": IPv4Address.literal("127.0.0.1")
            case "eth0": IPv4Address.literal("192.0.2.2")
            default: nil
            }
        }
        #expect(SpokeReachability.listensOnLoopbackOnly("tcp://lo:5001", lookUp: Self.lookUp, interfaceAddress: interfaces))
        #expect(!SpokeReachability.listensOnLoopbackOnly("tcp://eth0:5001", lookUp: Self.lookUp, interfaceAddress: interfaces))
        // This host's own loopback interface, found as the commands find it.
        #expect(IPv4Address.interfaceAddress(named: "lo").map(IPv4Address.isLoopback) == true)
        #expect(SpokeReachability.listensOnLoopbackOnly("tcp://lo:5001"))
        #expect(IPv4Address.interfaceAddress(named: "no-such-interface") == nil)
    }

    @Test func aHubIsOnAnotherHostUnlessItsHostIsLoopback() {
        for hub in ["tcp://10.77.0.1:5560", "tcp://db1:5560", "tcp://hub.example.net:5560", "tcp://[fe80::1]:5560"] {
            #expect(SpokeReachability.isOnAnotherHost(hub: hub, lookUp: Self.lookUp, isLocal: Self.isLocal), "\(hub)")
        }
        for hub in [
            "tcp://127.0.0.1:5560", "tcp://localhost:5560", "tcp://vm:5560", "tcp://[::1]:5560",
            "tcp://10.0.0.9;127.0.0.1:5560", "ipc:///tmp/hub", "inproc://hub",
            // Every interface: a hub this host serves, reached on loopback.
            "tcp://*:5560", "tcp://0.0.0.0:5560", "tcp://[::]:5560",
            // This host's own address, as written or as its name looks up.
            "tcp://10.9.9.9:5560", "tcp://self:5560",
        ] {
            #expect(!SpokeReachability.isOnAnotherHost(hub: hub, lookUp: Self.lookUp, isLocal: Self.isLocal), "\(hub)")
        }
    }
}

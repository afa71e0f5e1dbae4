import Testing
import ZeroMQ

@Suite struct ZMQEndpointTests {
    @Test func tcpEndpointsSplitIntoHostAndPortAtTheLastColon() throws {
        let endpoint = try #require(ZMQEndpoint("tcp://127.0.0.1:5570"))
        #expect(endpoint.scheme == "tcp" && endpoint.address == "127.0.0.1:5570")
        #expect(endpoint.host == "127.0.0.1" && endpoint.portText == "5570" && endpoint.port() == 5570)
        let ipv6 = try #require(ZMQEndpoint("kdb://[::1]:5001"))
        #expect(ipv6.host == "[::1]" && ipv6.unbracketedHost == "::1" && ipv6.port() == 5001)
        // A ZeroMQ connect's source address is not the host.
        #expect(ZMQEndpoint("tcp://10.0.0.1:0;broker-host:5570")?.host == "broker-host")
    }

    @Test func portsOutsideTheRangeOrNotNumbersAreNone() {
        #expect(ZMQEndpoint("tcp://host:0")?.port() == nil, "1...65535 by default")
        #expect(ZMQEndpoint("tcp://host:0")?.port(in: 0...65_535) == 0)
        #expect(ZMQEndpoint("tcp://host:70000")?.port() == nil)
        #expect(ZMQEndpoint("tcp://*:*")?.portText == "*")
        #expect(ZMQEndpoint("tcp://*:*")?.port() == nil)
        #expect(ZMQEndpoint("tcp://host")?.host == nil, "no colon: no host and port")
    }

    @Test func everyInterfaceHostsAreKnown() {
        for text in ["tcp://*:1", "tcp://0.0.0.0:1", "tcp://[::]:1"] {
            #expect(ZMQEndpoint(text)?.bindsEveryInterface == true, "\(text)")
        }
        #expect(ZMQEndpoint("tcp://127.0.0.1:1")?.bindsEveryInterface == false)
    }

    @Test func aBracketedHostMustBeAnIPv6Address() {
        for host in ["[::1]", "[::]", "[fd00::7]", "[::ffff:10.0.0.1]", "[fe80::1%eth0]", "127.0.0.1", "db1", "*"] {
            #expect(ZMQEndpoint.isWellFormedHost(host), "\(host)")
        }
        for host in ["[zz]", "[]", "[::1", "::1]", "[1.2.3.4]", "[::g]", "[fe80::1%]", "[fe80::1%a/b]", "a[b]"] {
            #expect(!ZMQEndpoint.isWellFormedHost(host), "\(host)")
        }
        #expect(ZMQEndpoint("tcp://[::1]:5570")?.hostIsWellFormed == true)
        #expect(ZMQEndpoint("tcp://[zz]:5570")?.hostIsWellFormed == false)
        #expect(ZMQEndpoint("ipc:///tmp/x")?.hostIsWellFormed == true, "no host, nothing to refuse")
    }

    @Test func otherTransportsAndTextWithoutASchemeAreTold() {
        #expect(ZMQEndpoint("127.0.0.1:5570") == nil)
        #expect(ZMQEndpoint("ipc:///tmp/servant")?.address == "/tmp/servant")
        #expect(ZMQEndpoint.split("q-host:5001")! == ("q-host", "5001"))
        #expect(ZMQEndpoint.split("5001") == nil)
    }
}

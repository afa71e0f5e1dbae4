import POSIXSockets
import Testing

struct IPv4AddressTests {
    @Test func aLiteralIsReadInNetworkByteOrder() {
        #expect(IPv4Address.literal("10.0.0.7") == UInt32(bigEndian: 10 << 24 | 7))
        #expect(IPv4Address.literal("127.0.0.1").map(IPv4Address.text) == "127.0.0.1")
    }

    @Test func namesAndMalformedAddressesAreNotLiterals() {
        #expect(IPv4Address.literal("localhost") == nil)
        #expect(IPv4Address.literal("10.0.0") == nil)
        #expect(IPv4Address.literal("10.0.0.256") == nil)
        #expect(IPv4Address.literal("") == nil)
    }

    @Test func localhostResolvesToLoopback() throws {
        let address = try IPv4Address.resolve("localhost").get()
        #expect(IPv4Address.text(address) == "127.0.0.1")
    }

    @Test func aNameThatDoesNotExistFailsWithTheResolversReason() {
        // `.invalid` is reserved (RFC 2606): it never resolves.
        guard case .failure(let error) = IPv4Address.resolve("no-such-host.invalid") else {
            Issue.record("no-such-host.invalid resolved")
            return
        }
        #expect(error.code == .nameLookup)
        #expect(!error.message.isEmpty && !error.message.contains("no-such-host"))
    }

    @Test func thisHostsAddressIsNotLoopback() {
        if let address = IPv4Address.firstNonLoopback() {
            #expect(IPv4Address.literal(address) != nil)
            #expect(!address.hasPrefix("127."))
        }
    }
}

import Testing

@testable import MServeMonitoring

struct HTTPBindAddressTests {
    @Test func aPortAloneBindsLoopback() throws {
        let address = try HTTPBindAddress(parsing: "9464")
        #expect(address == HTTPBindAddress(host: "127.0.0.1", port: 9464))
        #expect(try HTTPBindAddress(parsing: ":9464") == address)
        #expect(address.isLoopback)
    }

    @Test func hostsAndIPv6() throws {
        #expect(try HTTPBindAddress(parsing: "0.0.0.0:80") == HTTPBindAddress(host: "0.0.0.0", port: 80))
        #expect(try HTTPBindAddress(parsing: "[::1]:9464") == HTTPBindAddress(host: "::1", port: 9464))
        #expect(try HTTPBindAddress(parsing: "[::1]:9464").isLoopback)
        #expect(try HTTPBindAddress(parsing: "localhost:1").isLoopback)
        #expect(try !HTTPBindAddress(parsing: "10.0.0.1:1").isLoopback)
    }

    /// A name is judged by the address it resolves to: a host name on 127.0.1.1 (Debian's
    /// /etc/hosts) is loopback, and gets the `Host` check; one on another address is not.
    @Test func aNameIsJudgedByWhatItResolvesTo() {
        let onLoopback: UInt32 = (127 << 24 | 1 << 8 | 1).bigEndian  // 127.0.1.1
        let elsewhere: UInt32 = (192 << 24 | 2 << 8 | 2).bigEndian  // 192.0.2.2
        #expect(HTTPBindAddress(host: "vm", port: 1).isLoopback(resolving: { _ in onLoopback }))
        #expect(!HTTPBindAddress(host: "vm", port: 1).isLoopback(resolving: { _ in elsewhere }))
        #expect(!HTTPBindAddress(host: "vm", port: 1).isLoopback(resolving: { _ in nil }))
        // Addresses are not looked up.
        #expect(!HTTPBindAddress(host: "0.0.0.0", port: 1).isLoopback(resolving: { _ in onLoopback }))
        #expect(!HTTPBindAddress(host: "::", port: 1).isLoopback(resolving: { _ in onLoopback }))
    }

    @Test(arguments: ["", "host", "host:", "host:70000", "host:-1", "::1:80", "[::1]80", "a:b", "[::1:80", "::1]:80", "[]:80", "a;b:80"])
    func badAddressesAreRefused(_ text: String) {
        #expect(throws: MonitoringError.self) { try HTTPBindAddress(parsing: text) }
    }

    @Test func aRemoteBindUnderKeysNeedsTheAllowFlag() throws {
        let remote = HTTPBindAddress(host: "0.0.0.0", port: 9464)
        let error = #expect(throws: MonitoringError.self) { try remote.checkSafe(securityOn: true, allowRemote: false) }
        #expect(error?.code == .refused)
        #expect(error?.message.contains("--http-allow-remote") == true)
        try remote.checkSafe(securityOn: true, allowRemote: true)
        try remote.checkSafe(securityOn: false, allowRemote: false)
        try HTTPBindAddress(host: "127.0.0.1", port: 1).checkSafe(securityOn: true, allowRemote: false)
    }
}

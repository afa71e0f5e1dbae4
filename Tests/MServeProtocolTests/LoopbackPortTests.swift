import MServeProtocol
import Testing

#if canImport(Glibc)
import Glibc
#endif

struct LoopbackPortTests {
    @Test func aFreePortIsBelowTheEphemeralRangeAndCanBeBound() {
        let port = LoopbackPort.free()
        #expect((20_000..<32_000).contains(port))
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        #expect(bound == 0, "port \(port) was not free")
    }
}

import Foundation
import POSIXSockets
import Testing

/// The kernel's ephemeral port range, as `/proc/sys/net/ipv4` shows it: the range less the
/// reserved ports.
struct EphemeralPortsTests {
    @Test func theKernelsTextIsRead() throws {
        let ports = try #require(EphemeralPorts(rangeText: "32768\t60999\n", reservedText: "5560,43600-43610\n"))
        #expect(ports.range == 32_768...60_999)
        #expect(ports.reserved == [5_560...5_560, 43_600...43_610])
        #expect(ports.rangeText == "32768-60999")
        #expect(ports.contains(43_599) && ports.contains(32_768) && ports.contains(60_999))
        #expect(!ports.contains(43_600) && !ports.contains(43_610) && !ports.contains(32_767) && !ports.contains(61_000))
        #expect(EphemeralPorts(rangeText: "1024 65535", reservedText: "\n")?.reserved == [])
        // A reserved entry that cannot be read is left out; a range that cannot be, refused.
        #expect(EphemeralPorts(rangeText: "1024 65535", reservedText: "5560,x,9-1,7")?.reserved == [5_560...5_560, 7...7])
        for text in ["", "32768", "60999 32768", "a b", "1 2 3"] {
            #expect(EphemeralPorts(rangeText: text) == nil, "\(text)")
        }
    }

    @Test func theSettingsAreReadFromTheirDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ephemeral-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(EphemeralPorts.current(directory: directory) == nil)
        try "40000\t50000\n".write(toFile: "\(directory)/ip_local_port_range", atomically: true, encoding: .utf8)
        #expect(EphemeralPorts.current(directory: directory) == EphemeralPorts(range: 40_000...50_000))
        try "45000-45009\n".write(toFile: "\(directory)/ip_local_reserved_ports", atomically: true, encoding: .utf8)
        #expect(EphemeralPorts.current(directory: directory)?.reserved == [45_000...45_009])
        // This host's (Linux) can be read.
        #expect(EphemeralPorts.current() != nil)
    }
}

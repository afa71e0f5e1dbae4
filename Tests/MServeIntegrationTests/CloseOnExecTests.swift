import Foundation
import MServeTestSupport
import POSIXSockets
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IntegrationTests {
    /// No descriptor a serving process opens is inherited by a process it starts: after a
    /// crash, the Swift runtime starts its crash reporter (`swift-backtrace`), which held the
    /// `--http` and kdb+ ports as long as it lived when the listening sockets were inherited,
    /// and a restart on the same ports failed with `Address already in use`.
    @Suite struct CloseOnExecTests {
        /// A descriptor of a process: what it is (`socket:[123]`, a path) and whether it is
        /// closed on exec.
        struct Descriptor: CustomStringConvertible {
            var target: String
            var closedOnExec: Bool
            var description: String { "\(target)\(closedOnExec ? "" : " (not closed on exec)")" }
        }

        /// The descriptors of process `pid` from 3 up that are sockets, pipes or files. Left
        /// out: the anonymous inodes (`anon_inode:[eventpoll]`, `[eventfd]`, `[timerfd]`),
        /// the event machinery of libzmq and NIO, which holds no port, connection or file.
        static func descriptors(of pid: Int32) throws -> [Descriptor] {
            let directory = "/proc/\(pid)/fd"
            var found: [Descriptor] = []
            for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
                guard let number = Int(name), number > 2,
                    let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(name)"),
                    !target.hasPrefix("anon_inode:"),
                    let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(name)", encoding: .utf8),
                    let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags:") }),
                    let flags = Int(line.dropFirst("flags:".count).trimmingCharacters(in: .whitespaces), radix: 8)
                else { continue }
                found.append(Descriptor(target: target, closedOnExec: flags & Int(O_CLOEXEC) != 0))
            }
            return found
        }

        /// Opens a connection to `port` on loopback, sends `request` and waits for the first
        /// bytes of the answer: the peer has accepted it. Returns the descriptor, left open.
        static func connection(to port: Int, sending request: [UInt8]) async throws -> Int32 {
            let descriptor = try TCPSocket.connect(address: try #require(IPv4Address.literal("127.0.0.1")), port: port)
            TCPSocket.waitWritable(descriptor, milliseconds: 5_000)
            #expect(TCPSocket.write(descriptor, request, from: 0) == request.count)
            var answer: [UInt8] = []
            for _ in 0..<500 where answer.isEmpty {
                if TCPSocket.read(descriptor, into: &answer, limit: 4_096) == .closed { break }
                if answer.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(!answer.isEmpty, "port \(port) answered nothing")
            return descriptor
        }

        /// A broker with a kdb+ door, an HTTP side and the hub in its own process (`--hub
        /// auto`: the hub directory's lock and database), each door with a connection it
        /// accepted open: every socket, pipe and file it holds is closed on exec.
        @Test func noDescriptorOfAServingProcessIsInheritedByAChild() async throws {
            try await withTemporaryDirectory("mserve-cloexec") { directory in
                let (kdb, http) = (LoopbackPort.free(), LoopbackPort.free())
                let broker = try await MServeProcess(
                    "broker",
                    [
                        "broker", "--clients", "tcp://127.0.0.1:0", "--hub", "auto",
                        "--hub-endpoint", "tcp://127.0.0.1:\(LoopbackPort.free())",
                        "--kdb-port", "127.0.0.1:\(kdb)", "--http", "127.0.0.1:\(http)",
                    ],
                    environment: ["MSERVE_HUB_DIR": directory + "/hub"])
                defer { broker.stop() }
                let kdbClient = try await Self.connection(to: kdb, sending: Array("alice:\u{3}\u{0}".utf8))
                defer { TCPSocket.close(kdbClient) }
                let httpClient = try await Self.connection(
                    to: http, sending: Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
                defer { TCPSocket.close(httpClient) }

                let held = try Self.descriptors(of: broker.pid)
                let sockets = held.filter { $0.target.hasPrefix("socket:") }
                let files = held.map(\.target).filter { $0.hasPrefix("/") }
                let inherited = held.filter { !$0.closedOnExec }
                // What the broker was asked to hold is there: the doors' listening sockets and
                // connections, the hub's lock file and database.
                #expect(sockets.count >= 6, "\(held)")
                #expect(files.contains(directory + "/hub/hub.lock"), "\(held)")
                #expect(files.contains(directory + "/hub/hub.sqlite"), "\(held)")
                #expect(inherited.isEmpty, "\(held)")
            }
        }
    }
}

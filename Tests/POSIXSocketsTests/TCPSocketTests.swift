import POSIXSockets
import Testing

#if canImport(Glibc)
import Glibc
#endif

struct TCPSocketTests {
    /// Polls until `condition` holds, 10 ms apart, at most 500 times; sleeps without holding a
    /// thread of the concurrency pool, which every test running at once shares.
    private func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<500 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    @Test func aPortSomeoneListensOnCannotBeBoundAndAFreeOneCan() throws {
        let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        let reason = TCPSocket.bindFailure(host: "127.0.0.1", port: listener.port)
        #expect(reason?.contains("in use") == true, "\(String(describing: reason))")
        TCPSocket.close(listener.descriptor)
        #expect(TCPSocket.bindFailure(host: "127.0.0.1", port: listener.port) == nil)
        // An address this host does not have.
        #expect(TCPSocket.bindFailure(host: "192.0.2.1", port: listener.port) != nil)
    }

    @Test func bytesTravelBothWaysOverAConnection() async throws {
        let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { TCPSocket.close(listener.descriptor) }
        #expect(listener.port > 0)
        #expect(TCPSocket.accept(listener.descriptor) == nil, "nothing is waiting yet")

        let client = try TCPSocket.connect(address: try #require(IPv4Address.literal("127.0.0.1")), port: listener.port)
        defer { TCPSocket.close(client) }
        var accepted: TCPSocket.Accepted?
        #expect(await eventually { accepted = TCPSocket.accept(listener.descriptor); return accepted != nil })
        let server = try #require(accepted)
        defer { TCPSocket.close(server.descriptor) }
        #expect(server.isLoopback)
        #expect(server.peer.hasPrefix("127.0.0.1:"))
        #expect(TCPSocket.connectSucceeded(client))

        #expect(TCPSocket.write(client, [1, 2, 3, 4, 5], from: 2) == 3)
        var received: [UInt8] = [9]
        #expect(await eventually { TCPSocket.read(server.descriptor, into: &received, limit: 64) != .wouldBlock })
        #expect(received == [9, 3, 4, 5], "read appends what came, and only that")
        #expect(TCPSocket.read(server.descriptor, into: &received, limit: 64) == .wouldBlock)
        #expect(received == [9, 3, 4, 5])

        #expect(TCPSocket.write(server.descriptor, [7], from: 0) == 1)
        var reply: [UInt8] = []
        #expect(await eventually { TCPSocket.read(client, into: &reply, limit: 1) == .bytes(1) })
        #expect(reply == [7])
    }

    @Test func aClosedPeerReadsAsClosedAndCannotBeWritten() async throws {
        let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { TCPSocket.close(listener.descriptor) }
        let client = try TCPSocket.connect(address: try #require(IPv4Address.literal("127.0.0.1")), port: listener.port)
        defer { TCPSocket.close(client) }
        var accepted: TCPSocket.Accepted?
        #expect(await eventually { accepted = TCPSocket.accept(listener.descriptor); return accepted != nil })
        TCPSocket.abort(try #require(accepted).descriptor)

        var bytes: [UInt8] = []
        #expect(await eventually { TCPSocket.read(client, into: &bytes, limit: 16) == .closed })
        #expect(bytes.isEmpty)
        #expect(await eventually { TCPSocket.write(client, [1], from: 0) == nil })
    }

    @Test func aConnectionToAClosedPortFails() throws {
        let port = LoopbackPort.free()
        let client = try TCPSocket.connect(address: try #require(IPv4Address.literal("127.0.0.1")), port: port)
        defer { TCPSocket.close(client) }
        var item = pollfd(fd: client, events: Int16(POLLOUT), revents: 0)
        #expect(poll(&item, 1, 5_000) == 1)
        #expect(!TCPSocket.connectSucceeded(client))
    }

    @Test func aHostNameIsListenedOnAtItsAddress() throws {
        let listener = try TCPSocket.listen(host: "localhost", port: 0)
        defer { TCPSocket.close(listener.descriptor) }
        #expect(TCPProbe.canConnect(host: "127.0.0.1", port: listener.port, timeoutMilliseconds: 2_000))
    }

    @Test func anUnknownHostOrABadPortIsRefusedWithTheReason() {
        #expect {
            try TCPSocket.listen(host: "no-such-host.invalid", port: 0)
        } throws: { error in
            let error = error as? SocketError
            return error?.code == .nameLookup && error?.message.hasPrefix("cannot resolve no-such-host.invalid: ") == true
        }
        #expect {
            try TCPSocket.listen(host: "127.0.0.1", port: 65_536)
        } throws: { error in
            (error as? SocketError)?.message == "65536 is not a TCP port (0 to 65535)"
        }
    }

    @Test func listeningOnAPortInUseSaysWhy() throws {
        let first = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { TCPSocket.close(first.descriptor) }
        #expect {
            try TCPSocket.listen(host: "127.0.0.1", port: first.port)
        } throws: { error in
            let error = error as? SocketError
            return error?.code == .systemCall && error?.systemErrorNumber == EADDRINUSE
                && error?.message == "cannot listen on 127.0.0.1:\(first.port): Address already in use"
        }
    }

    @Test func everyInterfaceIsTheStarHost() throws {
        let listener = try TCPSocket.listen(host: "*", port: 0)
        defer { TCPSocket.close(listener.descriptor) }
        #expect(TCPProbe.canConnect(host: "127.0.0.1", port: listener.port, timeoutMilliseconds: 2_000))
    }

    /// The address a listener is bound to: every interface (0) for `*`, a loopback one for a
    /// loopback address or name.
    @Test func theBoundAddressIsRead() throws {
        for (host, address) in [("*", UInt32(0)), ("0.0.0.0", 0), ("127.0.0.1", IPv4Address.literal("127.0.0.1")), ("127.0.0.2", IPv4Address.literal("127.0.0.2"))] {
            let listener = try TCPSocket.listen(host: host, port: 0)
            defer { TCPSocket.close(listener.descriptor) }
            #expect(TCPSocket.boundAddress(listener.descriptor) == address, "\(host)")
        }
        let named = try TCPSocket.listen(host: "localhost", port: 0)
        defer { TCPSocket.close(named.descriptor) }
        #expect(TCPSocket.boundAddress(named.descriptor).map(IPv4Address.isLoopback) == true)
        #expect(TCPSocket.boundAddress(-1) == nil)
    }

    /// Every descriptor these calls make is closed on exec, and non-blocking, from its first
    /// instant: a child process (the Swift runtime's crash reporter, say) inherits no listening
    /// socket, which would keep the port from the process restarted on it, nor a connection.
    @Test func everySocketIsClosedOnExecAndNonBlocking() async throws {
        func flags(_ descriptor: Int32) -> (closeOnExec: Bool, nonBlocking: Bool) {
            (fcntl(descriptor, F_GETFD) & FD_CLOEXEC != 0, fcntl(descriptor, F_GETFL) & O_NONBLOCK != 0)
        }
        let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { TCPSocket.close(listener.descriptor) }
        #expect(flags(listener.descriptor) == (true, true))
        let client = try TCPSocket.connect(address: try #require(IPv4Address.literal("127.0.0.1")), port: listener.port)
        defer { TCPSocket.close(client) }
        #expect(flags(client) == (true, true))
        var accepted: TCPSocket.Accepted?
        #expect(await eventually { accepted = TCPSocket.accept(listener.descriptor); return accepted != nil })
        let server = try #require(accepted)
        defer { TCPSocket.close(server.descriptor) }
        #expect(flags(server.descriptor) == (true, true))
    }
}

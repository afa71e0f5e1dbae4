// The HTTP side's listening socket and its connections, made here rather than by NIO, which
// makes its sockets without close-on-exec: a process started by this one (the Swift runtime's
// crash reporter, after a crash) would inherit the port and hold it as long as it lives, and
// the process could not be started again on it. NIO serves each connection accepted here.

import Foundation
import HummingbirdCore
import Logging
import MServeProtocol
import NIOCore
import NIOPosix
import POSIXSockets
import ServiceLifecycle
import Synchronization
import ZeroMQ

/// A listening socket and the connections accepted on it, every descriptor closed on exec from
/// its first instant, each connection served as Hummingbird's own server serves one.
final class HTTPListener: Sendable {
    /// The port bound (the real one when asked for port 0).
    let port: Int
    private let descriptor: Int32
    /// Wakes the accepting thread for a stop.
    private let wake: ZMQWakeSignal
    private let state = Mutex(State())

    private struct State {
        /// Whether ``stop(closingConnections:)`` was called: no more connections are accepted.
        var stopped = false
        /// Accepted connections handed on but not yet taken up: whoever removes one closes it
        /// or serves it.
        var waiting: Set<Int32> = []
        /// The connections being served, by their channel's identity, for a stop to end them.
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    /// How long the accepting thread pauses when accepting fails (the process out of
    /// descriptors): the connection stays pending and the socket readable, so it would spin.
    private static let pauseAfterFailure = 100

    /// Listens on `host:port` (``TCPSocket/listen(anyFamilyHost:port:backlog:)``).
    init(host: String, port: Int) throws {
        (descriptor, self.port) = try TCPSocket.listen(anyFamilyHost: host, port: port)
        do {
            wake = try ZMQWakeSignal()
        } catch {
            TCPSocket.close(descriptor)
            throw error
        }
    }

    /// Accepts connections and serves each with `connection` (its `setup`, then its `handle`)
    /// until a graceful shutdown, which stops accepting and has each connection close once its
    /// response is written, or until cancelled, which closes them at once. Returns once every
    /// connection is closed; the listening socket is closed by then.
    func serve<Connection: ServerChildChannel>(_ connection: Connection, logger: Logger) async {
        let (accepted, continuation) = AsyncStream.makeStream(of: Int32.self)
        continuation.onTermination = { [self] _ in
            for descriptor in state.withLock({ state in state.waiting.sorted() }) where take(descriptor) {
                TCPSocket.close(descriptor)
            }
        }
        let thread = Thread { [self] in acceptConnections(into: continuation, logger: logger) }
        thread.name = "mserve-http-accept"
        thread.start()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { group in
                    for await descriptor in accepted where take(descriptor) {
                        group.addTask { await self.serve(descriptor, with: connection, logger: logger) }
                    }
                }
            } onGracefulShutdown: {
                self.stop(closingConnections: false)
            }
        } onCancel: {
            self.stop(closingConnections: true)
        }
    }

    /// Stops accepting; quiesces every connection being served (each closes once its response
    /// is written), or closes them at once.
    private func stop(closingConnections: Bool) {
        let channels = state.withLock { state in
            state.stopped = true
            return Array(state.channels.values)
        }
        wake.signal()
        for channel in channels {
            if closingConnections {
                channel.close(promise: nil)
            } else {
                channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
        }
    }

    /// Takes an accepted connection that was waiting; false when another took it first.
    private func take(_ descriptor: Int32) -> Bool {
        state.withLock { state in state.waiting.remove(descriptor) != nil }
    }

    /// The accepting thread: waits for connections (or the wake-up of a stop), hands each on,
    /// and closes the listening socket at the end.
    private func acceptConnections(into continuation: AsyncStream<Int32>.Continuation, logger: Logger) {
        defer {
            TCPSocket.close(descriptor)
            wake.close()
            continuation.finish()
        }
        var paused = false
        var failureLog = LogThrottle()
        while true {
            let ready = TCPSocket.waitReadable(
                paused ? [wake.fileDescriptor] : [descriptor, wake.fileDescriptor],
                milliseconds: paused ? Self.pauseAfterFailure : -1)
            paused = false
            if ready.contains(wake.fileDescriptor) || state.withLock({ $0.stopped }) { return }
            do {
                while let accepted = try TCPSocket.acceptDescriptor(descriptor) {
                    state.withLock { state in _ = state.waiting.insert(accepted) }
                    if case .terminated = continuation.yield(accepted) {
                        if take(accepted) { TCPSocket.close(accepted) }
                        return
                    }
                }
            } catch {
                if let heldBack = failureLog.admit() {
                    logger.error("\(LogThrottle.line("the HTTP side \(error.message); trying again shortly", heldBack: heldBack))")
                }
                paused = true
            }
        }
    }

    /// Serves one accepted connection with `connection`, on NIO's event loops.
    private func serve<Connection: ServerChildChannel>(
        _ descriptor: Int32, with connection: Connection, logger: Logger
    ) async {
        let value: Connection.Value
        do {
            value = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .withConnectedSocket(descriptor) { channel in connection.setup(channel: channel, logger: logger) }
        } catch {
            logger.debug("cannot serve an HTTP connection", metadata: ["error": "\(error)"])
            return
        }
        let channel = value.channel
        let id = ObjectIdentifier(channel)
        let stopping = state.withLock { state in
            state.channels[id] = channel
            return state.stopped
        }
        if stopping { channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        await connection.handle(value: value, logger: logger)
        state.withLock { state in _ = state.channels.removeValue(forKey: id) }
    }
}

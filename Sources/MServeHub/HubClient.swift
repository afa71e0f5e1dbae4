import Foundation
import QData
import ZeroMQ

/// One-off requests to a hub: resolve a service, read a table. Each request opens a short-lived
/// connection on its own thread, so callers never block a concurrency thread on the network.
public struct HubClient: Sendable {
    /// The hub endpoint.
    public var endpoint: String
    /// How long to wait for an answer.
    public var timeout: Duration

    /// Creates a client of the hub at `endpoint`.
    public init(endpoint: String = HubLink.environmentEndpoint, timeout: Duration = .seconds(3)) {
        self.endpoint = endpoint
        self.timeout = timeout
    }

    /// Sends `message` and returns the hub's answer; an ERROR answer is thrown as
    /// ``HubError/Code/refused``, no answer in time as ``HubError/Code/timeout``.
    public func request(_ message: HubMessage) async throws -> HubMessage {
        let endpoint = endpoint
        let milliseconds = Int(timeout.milliseconds)
        let answer: HubMessage = try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    let peer = try HubPeerSocket(endpoint: endpoint, queueUntilConnected: true)
                    defer { peer.close() }
                    guard peer.send(message) else {
                        throw HubError(.socket, "cannot send \(message.command.rawValue) to the hub at \(endpoint)")
                    }
                    guard let answer = peer.receive(waitingMilliseconds: milliseconds) else {
                        throw HubError(.timeout, "the hub at \(endpoint) did not answer in \(milliseconds) ms")
                    }
                    continuation.resume(returning: answer)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "mserve-hub-client"
            thread.start()
        }
        if answer.command == .error {
            throw HubError(.refused, answer.text("message") ?? "the hub refused \(message.command.rawValue)")
        }
        return answer
    }

    /// The live spokes of `service` with `role` (servants by default, or brokers).
    public func resolve(_ service: String, role: String = SpokeRole.servant) async throws -> [ServiceEndpoint] {
        let answer = try await request(
            HubMessage(.resolve, [("service", .atom(.symbol(service))), ("role", .atom(.symbol(role)))]))
        guard answer.command == .resolved else {
            throw HubError(.malformed, "expected RESOLVED, got \(answer.command.rawValue)")
        }
        return try ServiceEndpoint.list(from: answer)
    }

    /// The hub's table `name`: `spoke`, `memst` or `down`.
    public func table(_ name: String) async throws -> QTable {
        let answer = try await request(HubMessage(.table, [("name", .atom(.symbol(name)))]))
        guard answer.command == .table, case .table(let table, _)? = answer["table"] else {
            throw HubError(.malformed, "expected TABLE with a table, got \(answer.command.rawValue)")
        }
        return table
    }
}

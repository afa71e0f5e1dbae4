import Foundation
import POSIXSockets
public import QData
import Synchronization
public import ZeroMQ

/// One-off requests to a hub: resolve a service, read a table. Each request opens a short-lived
/// connection on its own thread, so callers never block a concurrency thread on the network.
public struct HubClient: Sendable {
    /// The hub endpoint.
    public var endpoint: String
    /// How long to wait for an answer.
    public var timeout: Duration
    /// The hub's public key and this client's key pair, when the hub runs with security on.
    public var curve: ZMQCurveClientKeys? = nil
    /// The hub's admin token (``HubAdminToken``), sent with the administrative commands: a hub
    /// running without keys takes them only with it.
    public var adminToken: String? = nil

    /// Creates a client of the hub at `endpoint`.
    public init(endpoint: String = HubLink.defaultEndpoint, timeout: Duration = .seconds(3)) {
        self.endpoint = endpoint
        self.timeout = timeout
    }

    /// Sends `message` and returns the hub's answer; an ERROR answer is thrown as
    /// ``HubError/Code/refused``, no answer in time as ``HubError/Code/timeout``. A cancelled
    /// task gets `CancellationError` at once, without waiting for the answer or the timeout
    /// (the request's thread finishes on its own).
    public func request(_ message: HubMessage) async throws -> HubMessage {
        var withToken = message
        if let adminToken, message.command.isAdministrative, message["token"] == nil {
            withToken.body.append(("token", .string(adminToken)))
        }
        let message = withToken
        let endpoint = endpoint
        let timeout = timeout
        let milliseconds = Int(timeout.milliseconds)
        let curve = curve
        let outcome = HubRequestOutcome()
        let answer: HubMessage = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                guard outcome.wait(with: continuation) else { return }
                let thread = Thread {
                    do {
                        let peer = try HubPeerSocket(endpoint: endpoint, queueUntilConnected: true, curve: curve)
                        defer { peer.close() }
                        guard peer.send(message) else {
                            throw HubError(.socket, "cannot send \(message.command.rawValue) to the hub at \(endpoint)")
                        }
                        guard let answer = peer.receive(waitingMilliseconds: milliseconds) else {
                            // A hub refusing this peer's security looks the same from here: silence.
                            let refusal =
                                curve == nil
                                ? "a hub run with --keys does not answer a peer without keys"
                                : "a hub answers only the keys it allows"
                            if let lookup = ZMQEndpoint(endpoint)?.host.flatMap(IPv4Address.lookupFailure(ofHost:)) {
                                throw HubError(.timeout, "the hub at \(endpoint) did not answer within \(timeout): \(lookup)")
                            }
                            throw HubError(
                                .timeout,
                                "the hub at \(endpoint) did not answer within \(timeout); is it running (mserve hub)? "
                                    + "(\(refusal))")
                        }
                        outcome.resume(with: .success(answer))
                    } catch {
                        outcome.resume(with: .failure(error))
                    }
                }
                thread.name = "mserve-hub-client"
                thread.start()
            }
        } onCancel: {
            outcome.resume(with: .failure(CancellationError()))
        }
        if answer.command == .error {
            // The hub names why in `code` where a caller may act on it (an admin refusal);
            // otherwise the refusal is `.refused`.
            let code = answer.text("code").flatMap { $0.isEmpty ? nil : HubError.Code($0) } ?? .refused
            throw HubError(code, answer.text("message") ?? "the hub refused \(message.command.rawValue)")
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

    /// Admits the CURVE public key `key` under `name` in `role` (needs the hub's own key when
    /// security is on); returns the admitted keys.
    public func allow(name: String, key: String, role: KeyRole = .default) async throws -> [AllowedKey] {
        try Self.keys(
            from: try await request(
                HubMessage(
                    .allow,
                    [
                        ("name", .atom(.symbol(name))), ("key", .atom(.symbol(key))),
                        ("role", .atom(.symbol(role.rawValue))),
                    ])))
    }

    /// Stops admitting the key named `name`; returns the admitted keys.
    public func revoke(name: String) async throws -> [AllowedKey] {
        try Self.keys(from: try await request(HubMessage(.revoke, [("name", .atom(.symbol(name)))])))
    }

    /// The admitted keys.
    public func allowedKeys() async throws -> [AllowedKey] {
        try Self.keys(from: try await request(HubMessage(.keys)))
    }

    /// Reads a KEYS answer. One without roles comes from a hub older than key roles, whose keys
    /// were admitted in every role: they are read as ``KeyRole/any``, as that hub meant them.
    static func keys(from answer: HubMessage) throws -> [AllowedKey] {
        guard answer.command == .keys else {
            throw HubError(.malformed, "expected KEYS, got \(answer.command.rawValue)")
        }
        var names: [String] = []
        var keys: [String] = []
        if case .vector(.symbol(let given), _)? = answer["name"] { names = given }
        if case .vector(.symbol(let given), _)? = answer["key"] { keys = given }
        var roles = [KeyRole](repeating: .any, count: min(names.count, keys.count))
        switch answer["role"] {
        case nil:
            break
        case .vector(.symbol(let given), _)? where given.count == roles.count:
            roles = given.map(KeyRole.init(rawValue:))
        case .vector(_, _)? where roles.isEmpty:
            break  // an empty list of any type
        default:
            throw HubError(.malformed, "KEYS with a role list that does not match its keys")
        }
        return roles.indices.map { AllowedKey(name: names[$0], key: keys[$0], role: roles[$0]) }
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

/// Resumes a hub request's caller once: with the answer, the error, or a cancellation,
/// whichever comes first.
final class HubRequestOutcome: Sendable {
    private enum State {
        case new
        case waiting(CheckedContinuation<HubMessage, any Error>)
        case cancelled
        case done
    }
    private let state = Mutex(State.new)

    /// Hands over the caller's continuation; false (after resuming it with `CancellationError`)
    /// when the task was cancelled first.
    func wait(with continuation: CheckedContinuation<HubMessage, any Error>) -> Bool {
        let cancelled = state.withLock { state -> Bool in
            if case .cancelled = state { return true }
            state = .waiting(continuation)
            return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
        return !cancelled
    }

    /// Resumes the caller with `result` unless it was resumed already.
    func resume(with result: Result<HubMessage, any Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<HubMessage, any Error>? in
            switch state {
            case .waiting(let continuation):
                state = .done
                return continuation
            case .new:
                if case .failure(let error) = result, error is CancellationError { state = .cancelled }
                return nil
            case .cancelled, .done:
                return nil
            }
        }
        continuation?.resume(with: result)
    }
}

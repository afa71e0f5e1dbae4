import Logging
import MServeTesting
import Testing
@testable import ZeroMQ

@testable import MServeAdmission

/// The refusal log's once-a-second throttle is kept per kind: a burst of one kind of refusal
/// (a host retrying with the wrong server key) hides no line of another (a plaintext peer
/// elsewhere), and the count of those held back names only refusals of its own kind.
struct RefusedPeerLogKindsTests {
    static let mechanismMismatch: Int32 = 0x1100_0002
    static let cryptographic: Int32 = 0x1100_0001

    static func failure(_ value: Int32, from address: String) -> ZMQHandshakeFailure {
        ZMQHandshakeFailure(event: .handshakeFailedProtocol, value: value, peerAddress: address)
    }

    @Test func eachReasonAHandshakeFailedIsLoggedOnItsOwn() {
        let recorder = LogRecorder()
        let log = RefusedPeerLog(door: "hub", logger: recorder.logger(label: "hub"))
        for _ in 0..<5 { log.handshakeFailed(Self.failure(Self.cryptographic, from: "10.0.0.1:4000")) }
        log.handshakeFailed(Self.failure(Self.mechanismMismatch, from: "10.0.0.2:5000"))
        let lines = recorder.entries.filter { $0.message.hasPrefix("refused a peer: its handshake failed: ") }
        #expect(lines.count == 2, "\(recorder.messages)")
        #expect(lines.map { $0.metadata["address"] } == ["10.0.0.1:4000", "10.0.0.2:5000"], "\(recorder.messages)")
        #expect(lines.last?.message == "refused a peer: its handshake failed: it spoke another security mechanism (plaintext, say)")
        #expect(log.failedHandshakeCount == 6)
    }

    static func request(key: String) -> ZAPRequest {
        ZAPRequest(domain: "", address: "10.0.0.3", identity: [], mechanism: "CURVE", publicKey: key)
    }

    /// A host whose key was revoked, still running, reconnects every few seconds for ever: its
    /// key is logged once a minute, while another key refused meanwhile is logged at once,
    /// with the count of those held back.
    @Test func aKeyRefusedAgainAndAgainIsLoggedOnceAMinute() {
        let recorder = LogRecorder()
        let log = RefusedPeerLog(door: "hub", logger: recorder.logger(label: "hub"))
        let second: UInt64 = 1_000_000_000
        let start: UInt64 = 1_000 * second
        for retry in 0..<20 {
            log.keyRefused(Self.request(key: "revoked"), "refused a peer: its key is not allowed", now: start + UInt64(retry) * 3 * second)
        }
        log.keyRefused(Self.request(key: "other"), "refused a peer: its key is not allowed", now: start + 59 * second)
        log.keyRefused(Self.request(key: "revoked"), "refused a peer: its key is not allowed", now: start + 61 * second)
        let lines = recorder.entries.filter { $0.message.hasPrefix("refused a peer: its key is not allowed") }
        #expect(lines.map { $0.metadata["key"] } == ["revoked", "other", "revoked"], "\(recorder.messages)")
        #expect(lines.map(\.message) == [
            "refused a peer: its key is not allowed",
            "refused a peer: its key is not allowed (and 19 more like it since the last such line, not logged)",
            "refused a peer: its key is not allowed",
        ])
        #expect(log.refusedKeyCount == 22)
    }
}

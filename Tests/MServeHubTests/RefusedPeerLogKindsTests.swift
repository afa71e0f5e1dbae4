import Logging
import MServeTesting
import Testing
import ZeroMQ

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
}

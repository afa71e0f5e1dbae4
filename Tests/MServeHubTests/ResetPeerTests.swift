import Foundation
import MServeHub
import MServeTestSupport
import QData
import Testing
import ZeroMQ

/// A peer that asks for many large answers without reading them, then goes with them unread
/// (the kernel resets its connection), does not stop the process it asked: with ZMTP heartbeats
/// on its connections, libzmq 4.3.4 aborted (`Assertion failed: !_io_error`) when one fell due
/// on such a connection, its input held back by the high-water mark when the reset came.
struct ResetPeerTests {
    @Test func aPeerThatResetsItsConnectionWithAnswersUnreadDoesNotStopTheHub() async throws {
        try await withTemporaryDirectory("mserve-reset-peer") { directory in
            let hub = try await MServeProcess(
                "hub", ["hub", "--bind", "tcp://127.0.0.1:0", "--dir", directory + "/hub", "--liveness", "2"])
            defer { _ = hub.stop() }
            let context = try ZMQContext()
            defer { context.terminate() }
            // A hundred spokes that go silent: the down table's answer is some 30 kB.
            for index in 0..<100 {
                let registration = SpokeRegistration.current(
                    port: Int32(42_000 + index), service: "dev", role: "client", endpoint: "tcp://127.0.0.1:\(42_000 + index)")
                let spoke = try ZMQSocket(context: context, type: .dealer)
                try spoke.setLinger(milliseconds: 0)
                try spoke.setRoutingId(Array("spoke-\(registration.session)".utf8))
                try spoke.connect(hub.endpoint)
                try spoke.send(multipart: HubMessage(.register, registration.entries).frames)
                let answer = try #require(try await spoke.receiveFrames(within: .seconds(30)), "the hub did not answer")
                #expect(try HubMessage(frames: answer).command == .registered)
                spoke.close()
            }
            let client = HubClient(endpoint: hub.endpoint, timeout: .seconds(10))
            #expect(await eventually { (try? await client.table("down").rowCount) == 100 })

            let request = HubMessage(.table, [("name", .atom(.symbol("down")))]).frames
            for _ in 0..<20 {
                let peer = try ZMQSocket(context: context, type: .dealer)
                try peer.setLinger(milliseconds: 0)
                try peer.setReceiveHighWaterMark(1)
                try peer.setReceiveBuffer(bytes: 4_096)
                try peer.setSendHighWaterMark(100_000)
                try peer.connect(hub.endpoint)
                try await Task.sleep(for: .milliseconds(200))
                for _ in 0..<3_000 {
                    guard try peer.send(multipart: request, dontWait: true) else { break }
                }
                try await Task.sleep(for: .milliseconds(500))
                peer.close()
                try await Task.sleep(for: .milliseconds(300))
                guard hub.isRunning else { break }
            }
            #expect(hub.isRunning, "the hub stopped: \(hub.logs.suffix(2_000))")
            #expect((try? await client.table("down").rowCount) == 100)
        }
    }
}

import Foundation
import Logging
import MServeTestSupport
import MServeTesting
import Testing
import ZeroMQ

@testable import MServeHub

/// A message the hub cannot read (another protocol, a wrong frame count, an unknown command) is
/// answered `ERROR`, counted in `mserve_hub_refused_total{reason="malformed"}` and logged with
/// the peer's address, a line a second at most: an alert on the counter finds the peer in the log.
struct MalformedMessageLogTests {
    static let line = "refused a malformed message: "

    @Test func aMalformedMessageIsLoggedWithThePeersAddress() async throws {
        let recorder = LogRecorder()
        try await HubFixture.with { fixture in
            let (hub, task) = try await fixture.startHub(logger: recorder.logger(label: "hub"))
            defer { hub.stop() }
            try await fixture.withPeerSocket { socket in
                func refused(_ frames: [[UInt8]]) async throws -> String? {
                    try socket.send(multipart: frames)
                    let answer = try #require(try await socket.receiveFrames(within: .seconds(10)), "the hub did not answer")
                    let message = try HubMessage(frames: answer)
                    #expect(message.command == .error)
                    return message.text("message")
                }

                #expect(try await refused([Array("MSH2".utf8), Array("TABLE".utf8), []]) == "expected protocol MSH1, got 'MSH2'")
                let first = try #require(recorder.entries.first { $0.message.hasPrefix(Self.line) }, "\(recorder.messages)")
                #expect(first.message == Self.line + "expected protocol MSH1, got 'MSH2'")
                #expect(first.level == .warning)
                #expect(first.metadata["address"] == "127.0.0.1")
                #expect(first.metadata["door"] == "hub")

                // Each is answered and counted; the lines come a second apart at most, the next one
                // saying how many were held back. A peer's bytes never break a line.
                let more: [[[UInt8]]] = [
                    [HubLink.protocolMarker, Array("TABLE".utf8)],
                    [HubLink.protocolMarker, Array("NOSUCH".utf8), []],
                    [Array("MS\nH1".utf8), Array("TABLE".utf8), []],
                ]
                for frames in more { _ = try await refused(frames) }
                try await Task.sleep(for: .milliseconds(1_100))
                #expect(try await refused([HubLink.protocolMarker, Array("NOSUCH\u{1B}".utf8), []]) == "unknown hub command 'NOSUCH\\x1b'")

                let lines = recorder.messages.filter { $0.hasPrefix(Self.line) }
                let heldBack = lines.compactMap { line -> Int? in
                    guard let match = line.firstMatch(of: /\(and (\d+) more like it since the last such line, not logged\)$/) else { return nil }
                    return Int(match.output.1)
                }
                #expect(lines.count + heldBack.reduce(0, +) == 5, "\(lines)")
                #expect(
                    lines.last?.hasPrefix(Self.line + "unknown hub command 'NOSUCH\\x1b'") == true, "\(lines)")
                let logged = Set(lines.map { $0.replacing(/\ \(and \d+ more like it.*$/, with: "") })
                let possible: Set<String> = [
                    Self.line + "expected protocol MSH1, got 'MSH2'",
                    Self.line + "expected the frames [MSH1, COMMAND, body], got 2 frames",
                    Self.line + "unknown hub command 'NOSUCH'",
                    Self.line + "expected protocol MSH1, got 'MS\\x0aH1'",
                    Self.line + "unknown hub command 'NOSUCH\\x1b'",
                ]
                #expect(logged.isSubset(of: possible), "\(lines)")
                #expect(await hub.snapshot().metrics.refusals(.malformed) == 5)
                hub.stop()
                try await task.value
            }
        }
    }
}

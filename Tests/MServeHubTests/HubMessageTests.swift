import MServeHub
import QData
import Testing

/// How a hub message is read from its frames: a body that claims to decompress to more than
/// a hub message may hold is refused before anything is allocated for it.
struct HubMessageTests {
    @Test func aBodyThatWouldDecompressPastTheLimitIsRefused() throws {
        // A 1 MiB "compressed" body whose header claims 100 MiB once decompressed.
        var body = [UInt8](repeating: 0, count: 1 << 20)
        body[0] = 1
        body[2] = 1
        let claimed = UInt32(100 << 20)
        for index in 0..<4 {
            body[4 + index] = UInt8(truncatingIfNeeded: UInt32(body.count) >> (8 * UInt32(index)))
            body[8 + index] = UInt8(truncatingIfNeeded: claimed >> (8 * UInt32(index)))
        }
        let error = #expect(throws: HubError.self) {
            try HubMessage(frames: [HubLink.protocolMarker, Array("HEARTBEAT".utf8), body])
        }
        #expect(error?.code == .malformed)
        #expect(error?.message.contains("over the limit of \(HubMessage.largestBody)") == true, "\(String(describing: error))")
    }

    @Test func aSmallCompressedBodyIsRead() throws {
        let entries: [(String, QValue)] = [("text", .vector(.char(Array(String(repeating: "abc", count: 2_000).utf8))))]
        let plain = QIPC.encode(.dictionary(keys: .vector(.symbol(entries.map(\.0))), values: .list(entries.map(\.1))))
        let compressed = try #require(QIPC.compress(plain))
        let message = try HubMessage(frames: [HubLink.protocolMarker, Array("HEARTBEAT".utf8), compressed])
        #expect(message.text("text") == String(repeating: "abc", count: 2_000))
    }

    /// docs/HUB.md calls the bodies of `KEYS`, `USERS` and `DEREGISTER` empty: an empty frame
    /// is read as an empty dictionary is.
    @Test func anEmptyBodyFrameIsAnEmptyBody() throws {
        for command in ["KEYS", "USERS", "DEREGISTER"] {
            let message = try HubMessage(frames: [HubLink.protocolMarker, Array(command.utf8), []])
            #expect(message.command.rawValue == command)
            #expect(message.body.isEmpty)
        }
        // Not any short frame: a body that is not q is still refused.
        #expect(throws: HubError.self) { try HubMessage(frames: [HubLink.protocolMarker, Array("KEYS".utf8), [1]]) }
    }

    /// q's own empty dictionary, `()!()` (general-list keys), is an empty body as the hub's
    /// `` (`symbol$())!() `` is: the bytes `-8!()!()` gives in q.
    @Test func qsEmptyDictionaryIsAnEmptyBody() throws {
        let qEmpty: [UInt8] = [0x01, 0x00, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x63, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
        #expect(try QIPC.decode(qEmpty).value == .dictionary(keys: .list([]), values: .list([])))
        for command in ["KEYS", "USERS", "DEREGISTER"] {
            let message = try HubMessage(frames: [HubLink.protocolMarker, Array(command.utf8), qEmpty])
            #expect(message.body.isEmpty)
        }
        // A dictionary with general-list keys that are not empty is still refused.
        let listKeyed = QIPC.encode(.dictionary(keys: .list([.atom(.long(1))]), values: .list([.atom(.long(2))])))
        #expect(throws: HubError.self) { try HubMessage(frames: [HubLink.protocolMarker, Array("KEYS".utf8), listKeyed]) }
    }

    /// Three frames with another protocol name or version are told what protocol the hub
    /// speaks, not that the frame count is wrong; a wrong count still says so.
    @Test(arguments: [
        ([Array("MSH2".utf8), Array("KEYS".utf8), []], "expected protocol MSH1, got 'MSH2'"),
        ([Array("XXXX".utf8), Array("KEYS".utf8), []], "expected protocol MSH1, got 'XXXX'"),
        ([HubLink.protocolMarker, Array("KEYS".utf8)], "expected the frames [MSH1, COMMAND, body], got 2 frames"),
    ] as [([[UInt8]], String)])
    func aWrongProtocolIsNamedAsSuch(frames: [[UInt8]], message: String) {
        let error = #expect(throws: HubError.self) { try HubMessage(frames: frames) }
        #expect(error?.code == .malformed)
        #expect(error?.message == message, "\(String(describing: error))")
    }
}

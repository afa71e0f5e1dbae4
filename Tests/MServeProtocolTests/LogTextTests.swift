import MServeProtocol
import Testing

/// A peer's bytes in a log line, and why a broker↔servant message is not read.
struct LogTextTests {
    @Test func printableKeepsASCIIAndEscapesEveryOtherByte() {
        #expect(LogText.printable(Array("broker-1f".utf8)) == "broker-1f")
        #expect(LogText.printable(Array("evil\nFORGED\\".utf8)) == "evil\\x0aFORGED\\x5c")
        #expect(LogText.printable([0x00, 0xFF, 0x7F]) == "\\x00\\xff\\x7f")
        #expect(LogText.printable(Array("abcdef".utf8), limit: 3) == "abc…")
        #expect(LogText.printable(Array("abc".utf8), limit: 3) == "abc")
    }

    @Test func aMessageIsUnreadableForWhatItLacksOrHasWrong() {
        let marker = ServantLink.protocolMarker[...]
        #expect(ServantLink.unreadableReason(marker: nil, command: nil) == "an empty message (no frame after the routing id)")
        #expect(
            ServantLink.unreadableReason(marker: Array("MSV2".utf8)[...], command: Array("READY".utf8)[...])
                == "a message that is not MSV1 (its first frame is \"MSV2\")")
        #expect(
            ServantLink.unreadableReason(marker: Array("MSH1".utf8)[...], command: Array("ERROR".utf8)[...])
                == "a hub's message (its first frame is \"MSH1\"): this endpoint is a hub's; give it with --hub")
        #expect(ServantLink.unreadableReason(marker: marker, command: nil) == "an MSV1 message without a command")
        #expect(
            ServantLink.unreadableReason(marker: marker, command: Array("FOO\n".utf8)[...])
                == "an MSV1 message with an unknown command \"FOO\\x0a\"")
        // A long frame is cut: a peer cannot make the line as long as its message.
        let long = ServantLink.unreadableReason(marker: marker, command: Array(repeating: UInt8(ascii: "A"), count: 1_000)[...])
        #expect(long == "an MSV1 message with an unknown command \"\(String(repeating: "A", count: 32))…\"")
        for command in ServantCommand.allCases {
            #expect(ServantLink.unreadableReason(marker: marker, command: command.frame[...]) == nil)
        }
    }
}

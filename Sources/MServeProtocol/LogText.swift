// Text a peer sent, made safe for a log line, and the reasons a broker↔servant message is not
// read: what the broker's and the servant's logs say about a peer's bytes.

/// Bytes a peer sent, as a log line shows them.
public enum LogText {
    /// `bytes` with printable ASCII as it is and any other byte (and `\`) as `\xNN`, so that
    /// no peer can write a line break, or a line of its own, into a log; at most `limit` bytes
    /// shown, then `…`.
    public static func printable(_ bytes: some Collection<UInt8>, limit: Int = .max) -> String {
        var text = ""
        for (index, byte) in bytes.enumerated() {
            if index == limit {
                text += "…"
                break
            }
            if byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                text += (byte < 0x10 ? "\\x0" : "\\x") + String(byte, radix: 16)
            }
        }
        return text
    }
}

extension ServantLink {
    /// The most bytes of a peer's frame a log line about it shows.
    static let framePrefixShown = 32

    /// Why a message on the broker↔servant link is not one the protocol defines, for a log
    /// line; nil when it reads. `marker` and `command` are the frames after the routing id
    /// (nil: the message ended before them). The reasons: a message with no frame after the
    /// routing id, one whose first frame is not `MSV1`, one without a command, and one whose
    /// command the protocol does not have (the peer's bytes shown printable).
    public static func unreadableReason(marker: ArraySlice<UInt8>?, command: ArraySlice<UInt8>?) -> String? {
        guard let marker else { return "an empty message (no frame after the routing id)" }
        guard marker.elementsEqual(protocolMarker) else {
            // The hub's protocol marker (MServeHub's `HubProtocol.protocolMarker`): a hub's
            // endpoint given where a servant's (or a broker's) was meant.
            if marker.elementsEqual("MSH1".utf8) {
                return "a hub's message (its first frame is \"MSH1\"): this endpoint is a hub's; give it with --hub"
            }
            return "a message that is not MSV1 (its first frame is \"\(LogText.printable(marker, limit: framePrefixShown))\")"
        }
        guard let command else { return "an MSV1 message without a command" }
        guard ServantCommand(frame: command) == nil else { return nil }
        return "an MSV1 message with an unknown command \"\(LogText.printable(command, limit: framePrefixShown))\""
    }
}

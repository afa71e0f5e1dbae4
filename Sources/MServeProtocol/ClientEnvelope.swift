/// The frames a client's message may carry in front of its query: its routing id (which a
/// ROUTER adds) and whatever the client put there (a REQ socket's empty delimiter, a
/// device's routing ids, its own tags). Each is echoed in front of the reply, so the number
/// and bytes of them are bounded: a message of a million empty frames is two megabytes on
/// the wire and would hold far more in the reply waiting for a client that does not read.
public enum ClientEnvelope {
    /// The most frames in front of a query, the routing id among them.
    public static let maximumFrames = 32
    /// The most bytes in those frames together.
    public static let maximumBytes = 65_536

    /// Why a message with `frames` frames in front of its query, of `bytes` bytes together,
    /// is not taken; nil when it is within both limits.
    public static func refusal(frames: Int, bytes: Int) -> String? {
        if frames > maximumFrames {
            return "dropped a client message with \(frames) frames in front of its query (at most \(maximumFrames) are taken)"
        }
        if bytes > maximumBytes {
            return "dropped a client message with \(bytes) bytes in front of its query (at most \(maximumBytes) are taken)"
        }
        return nil
    }
}

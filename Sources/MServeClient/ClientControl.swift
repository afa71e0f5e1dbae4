/// Commands posted to the client's I/O thread.
enum ClientControl: Sendable {
    case send(id: Int64, bytes: [UInt8], deadline: UInt64, waitDescription: String, continuation: CheckedContinuation<QueryReply, any Error>)
    case cancel(id: Int64)
    case close
}

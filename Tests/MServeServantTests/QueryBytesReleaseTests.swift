import Foundation
import MServeProtocol
import MServeServant
import QData
import Testing

/// A servant lets a query's bytes go once it has decoded them
/// (``MServeServant/FunctionRegistry/reply(to:maximumSize:maximumReplySize:logger:)`` takes the
/// message): while the function runs and its result is encoded, the process holds the decoded
/// argument but not the message too.
@Suite(.serialized)
struct QueryBytesReleaseTests {
    /// The process's resident memory in kB (`VmRSS`).
    static func residentKilobytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    static let longs = 16_000_000  // 128 MB as IPC

    /// `(1; (`rss; 16M longs))`, the only reference to its bytes handed to the caller.
    static func message() -> [UInt8] {
        QIPC.encode(.list([.atom(.long(1)), .list([.atom(.symbol("rss")), .vector(.long(Array(repeating: 7, count: longs)))])]))
    }

    @Test func theQueryBytesAreFreedBeforeTheFunctionRuns() throws {
        var functions = FunctionRegistry()
        functions.register("rss", arity: 1...1) { _ in .atom(.long(Int64(Self.residentKilobytes()))) }
        let before = Self.residentKilobytes()
        let reply = try QIPC.decode(functions.reply(to: Self.message())).value
        guard case .list(let items, _) = reply, items.count >= 2, case .atom(.long(let during)) = items[1] else {
            Issue.record("unexpected reply \(reply)")
            return
        }
        let messageKilobytes = Self.longs * 8 / 1024
        // The decoded vector alone is one message's worth; with the message still held, two.
        #expect(Int(during) - before < messageKilobytes * 3 / 2, "\(Int(during) - before) kB over \(before) kB while the function ran")
    }
}

import Foundation
import MServeProtocol
import MServeServant
import QData
import Testing
import MServeTestScheduling

/// A servant lets a query's bytes go once it has decoded them
/// (``MServeServant/FunctionRegistry/reply(to:maximumSize:maximumReplySize:logger:)`` takes the
/// message): while the function runs and its result is encoded, the process holds the decoded
/// argument but not the message too.
///
/// The message is large enough for the allocator to give it pages of its own (glibc maps any
/// block over 32 MB by itself and unmaps it when freed), so whether its bytes are still held is
/// whether its first page is still mapped. That is a fact about this one block, unlike the
/// process's resident memory, which tests running beside this one move too.
@Suite(.serialized, .heavyComputation)
struct QueryBytesReleaseTests {
    static let longs = 16_000_000  // 128 MB as IPC

    /// `(1; (`mapped; 16M longs))`.
    static func message() -> [UInt8] {
        QIPC.encode(.list([.atom(.long(1)), .list([.atom(.symbol("mapped")), .vector(.long(Array(repeating: 7, count: longs)))])]))
    }

    /// Whether the page holding `address` is mapped in this process (`mincore` fails with
    /// `ENOMEM` on an unmapped page).
    static func isMapped(_ address: UInt) -> Bool {
        let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))
        var residency: UInt8 = 0
        return mincore(UnsafeMutableRawPointer(bitPattern: address & ~(pageSize - 1)), Int(pageSize), &residency) == 0
    }

    /// A registry whose `mapped` function answers whether the message at `address` is still mapped.
    static func registry(watching address: UInt) -> FunctionRegistry {
        var functions = FunctionRegistry()
        functions.register("mapped", arity: 1...1) { _ in .atom(.boolean(isMapped(address))) }
        return functions
    }

    /// The `mapped` function's answer in a reply.
    static func answer(_ reply: [UInt8]) throws -> Bool? {
        guard case .list(let items, _) = try QIPC.decode(reply).value, items.count >= 2, case .atom(.boolean(let mapped)) = items[1]
        else { return nil }
        return mapped
    }

    @Test func theQueryBytesAreFreedBeforeTheFunctionRuns() throws {
        let message = Self.message()
        let address = message.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(Self.isMapped(address), "the message's block is mapped while it is held")
        let functions = Self.registry(watching: address)
        #expect(try Self.answer(functions.reply(to: consume message)) == false, "the message was still held while the function ran")
    }

    /// The check itself: when the caller keeps the message, the function sees it mapped.
    @Test func aMessageTheCallerStillHoldsIsSeenMapped() throws {
        let message = Self.message()
        let address = message.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        let functions = Self.registry(watching: address)
        #expect(try Self.answer(functions.reply(to: message)) == true)
        #expect(message.count > Self.longs * 8)
    }
}

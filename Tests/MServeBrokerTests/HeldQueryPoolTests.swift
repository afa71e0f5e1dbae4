import MServeProtocol
import QData
import Testing

@testable import MServeBroker

/// The loop reuses the records of answered queries: a reused record starts as a new one, and
/// a record still held anywhere is never taken back.
struct HeldQueryPoolTests {
    func make(_ pool: inout HeldQueryPool, tag: UInt64) -> HeldQuery {
        pool.make(
            tag: tag, route: .kdb(connection: tag, form: .async), message: .bytes([UInt8(truncatingIfNeeded: tag)]),
            id: .atom(.long(Int64(tag))), routing: "r\(tag)", receivedTimestamp: Int64(tag),
            receivedAt: tag, deadline: tag + 1)
    }

    @Test func aReusedRecordStartsAsANewOne() {
        var pool = HeldQueryPool()
        var first: HeldQuery? = make(&pool, tag: 1)
        let object = ObjectIdentifier(first!)
        first!.function = "f"
        first!.dispatches = 3
        first!.hasOwnDeadline = true
        var answered = first!
        first = nil
        pool.recycle(&answered)
        #expect(pool.count == 1)
        #expect(answered.message.count == 0)
        #expect(answered.id == .identity)

        let second = make(&pool, tag: 2)
        #expect(ObjectIdentifier(second) == object)
        #expect(pool.count == 0)
        let fresh = HeldQuery(
            tag: 2, route: .kdb(connection: 2, form: .async), message: .bytes([2]), id: .atom(.long(2)),
            routing: "r2", receivedTimestamp: 2, receivedAt: 2, deadline: 3)
        #expect(second.tag == fresh.tag)
        #expect(second.message.bytes == fresh.message.bytes)
        #expect(second.id == fresh.id)
        #expect(second.routing == fresh.routing)
        #expect(second.function == fresh.function)
        #expect(second.receivedTimestamp == fresh.receivedTimestamp)
        #expect(second.receivedAt == fresh.receivedAt)
        #expect(second.deadline == fresh.deadline)
        #expect(second.dispatches == fresh.dispatches)
        #expect(second.hasOwnDeadline == fresh.hasOwnDeadline)
        guard case .kdb(let connection, _) = second.route else {
            Issue.record("expected the new query's route")
            return
        }
        #expect(connection == 2)
    }

    @Test func aRecordHeldElsewhereIsNotTakenBack() {
        var pool = HeldQueryPool()
        let queued = make(&pool, tag: 1)
        var answered = queued
        pool.recycle(&answered)
        #expect(pool.count == 0)
        #expect(queued.message.bytes == [1])
        #expect(ObjectIdentifier(make(&pool, tag: 2)) != ObjectIdentifier(queued))
    }

    @Test func itKeepsAtMostItsCapacity() {
        var pool = HeldQueryPool()
        var records = (0..<(HeldQueryPool.capacity + 10)).map { make(&pool, tag: UInt64($0) + 1) }
        while var record = records.popLast() { pool.recycle(&record) }
        #expect(pool.count == HeldQueryPool.capacity)
    }
}

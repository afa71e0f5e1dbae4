@testable import MServeBroker
import Testing

struct ServantRoutingIDTests {
    @Test(arguments: [UInt64(1), 42, 1_000_000, UInt64.max])
    func aServantsRoutingIDGivesBackItsID(id: UInt64) {
        let routingID = BrokerLoop.routingID(ofServant: id)
        #expect(String(decoding: routingID, as: UTF8.self) == "servant-\(id)")
        #expect(BrokerLoop.servantID(fromRoutingID: routingID[...]) == id)
    }

    /// Each connection the broker makes anew has its own routing id, which names the servant.
    @Test(arguments: [(UInt64(1), UInt64(1)), (42, 7), (UInt64.max, UInt64.max)])
    func aConnectionsRoutingIDGivesBackItsServantsID(id: UInt64, connection: UInt64) {
        let routingID = BrokerLoop.routingID(ofServant: id, connection: connection)
        #expect(String(decoding: routingID, as: UTF8.self) == "servant-\(id).\(connection)")
        #expect(routingID != BrokerLoop.routingID(ofServant: id))
        #expect(BrokerLoop.servantID(fromRoutingID: routingID[...]) == id)
    }

    @Test(arguments: [
        "", "servant-", "servant", "servants-1", "servant-1x", "servant--1", "xervant-1", "servant-18446744073709551616",
        "servant-000000000000000000000001", "servant-1.", "servant-.1", "servant-1.2.3", "servant-1.x", "servant-1.01",
    ])
    func otherRoutingIDsAreNotServants(text: String) {
        #expect(BrokerLoop.servantID(fromRoutingID: Array(text.utf8)[...]) == nil)
    }

    @Test func aRoutingIDInsideALargerBufferIsReadInPlace() {
        let buffer = Array("MSV1servant-7REPLY".utf8)
        #expect(BrokerLoop.servantID(fromRoutingID: buffer[4..<13]) == 7)
    }
}

@testable import MServeBroker
import Testing

struct ServantRoutingIDTests {
    @Test(arguments: [UInt64(1), 42, 1_000_000, UInt64.max])
    func aServantsRoutingIDGivesBackItsID(id: UInt64) {
        let routingID = BrokerLoop.routingID(ofServant: id)
        #expect(String(decoding: routingID, as: UTF8.self) == "servant-\(id)")
        #expect(BrokerLoop.servantID(fromRoutingID: routingID[...]) == id)
    }

    @Test(arguments: ["", "servant-", "servant", "servants-1", "servant-1x", "servant--1", "xervant-1", "servant-18446744073709551616", "servant-000000000000000000000001"])
    func otherRoutingIDsAreNotServants(text: String) {
        #expect(BrokerLoop.servantID(fromRoutingID: Array(text.utf8)[...]) == nil)
    }

    @Test func aRoutingIDInsideALargerBufferIsReadInPlace() {
        let buffer = Array("MSV1servant-7REPLY".utf8)
        #expect(BrokerLoop.servantID(fromRoutingID: buffer[4..<13]) == 7)
    }
}

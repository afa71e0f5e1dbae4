import Testing

@testable import MServeBroker

/// The endpoints of servants once in session with the broker, remembered so that a silent
/// connection to one listed again is told from a wrong endpoint, and named as before: bounded,
/// each taken once.
struct FormerServantEndpointsTests {
    @Test func anEndpointIsTakenOnceAndTheOldestGoPastTheCapacity() {
        var endpoints = FormerServantEndpoints()
        func taken(_ endpoint: String) -> Bool { endpoints.take(endpoint) != nil }
        #expect(!taken("tcp://10.0.0.1:1"))
        for port in 0...FormerServantEndpoints.capacity { endpoints.insert("tcp://10.0.0.1:\(port)", name: "s\(port)") }
        #expect(endpoints.count == FormerServantEndpoints.capacity)
        #expect(!taken("tcp://10.0.0.1:0"))
        #expect(taken("tcp://10.0.0.1:1"))
        #expect(!taken("tcp://10.0.0.1:1"))
        #expect(taken("tcp://10.0.0.1:\(FormerServantEndpoints.capacity)"))
        // Remembered again, an endpoint counts as the newest.
        endpoints.insert("tcp://10.0.0.1:2", name: "s2")
        for port in 2_000..<2_000 + FormerServantEndpoints.capacity - 1 { endpoints.insert("tcp://10.0.0.1:\(port)", name: "s\(port)") }
        #expect(taken("tcp://10.0.0.1:2"))
        #expect(!taken("tcp://10.0.0.1:3"))
    }

    @Test func anEndpointIsTakenWithTheNameItsServantHad() {
        var endpoints = FormerServantEndpoints()
        endpoints.insert("tcp://10.0.0.1:1", name: "alpha")
        endpoints.insert("tcp://10.0.0.1:1", name: "beta")
        #expect(endpoints.take("tcp://10.0.0.1:1") == "beta")
        #expect(endpoints.take("tcp://10.0.0.1:1") == nil)
    }
}

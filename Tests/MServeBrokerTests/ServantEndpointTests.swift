import MServeBroker
import Testing

struct ServantEndpointTests {
    @Test(arguments: ["tcp://db1:5001", "tcp://10.0.0.7:5001", "kdb://q-host:5001", "ipc:///tmp/servant", "tcp://[::1]:5001"])
    func servantEndpointsAreValid(endpoint: String) {
        #expect(ServantEndpoint.isValid(endpoint))
    }

    @Test(arguments: ["bogus", "tcp://db1", "tcp://:5001", "tcp://db1:0", "tcp://db1:99999", "udp://db1:5001", "ipc://", "TCP://db1:5001"])
    func otherTextIsNot(endpoint: String) {
        #expect(!ServantEndpoint.isValid(endpoint))
    }

    /// An endpoint to connect to names a host another process can reach: not `*` (every
    /// interface, something to bind) and not `inproc://` (inside one process only).
    @Test(arguments: ["tcp://*:5001", "kdb://*:5001", "inproc://servant", "inproc://"])
    func endpointsNoOtherProcessCanConnectToAreNot(endpoint: String) {
        #expect(!ServantEndpoint.isValid(endpoint))
    }
}

import Testing
import ZeroMQ

@Suite struct ZMQErrorTests {
    @Test func bindToUnknownTransportCarriesErrnoAndCall() throws {
        try withContext { context in
            let socket = try ZMQSocket(context: context, type: .router)
            defer { socket.close() }
            let error = try #require(#expect(throws: ZMQError.self) { try socket.bind("bogus://nowhere") })
            #expect(error.code == .protocolNotSupported)
            #expect(error.code.rawValue != 0)
            #expect(error.call == "zmq_bind(bogus://nowhere)")
            #expect(!error.message.isEmpty)
            #expect(error.file.hasSuffix("ZMQErrorTests.swift"))
            #expect(error.line > 0)
            #expect(error.description.contains("zmq_bind(bogus://nowhere) failed"))
            #expect(error.reason == "\(error.message) (an endpoint is tcp://HOST:PORT or ipc://PATH)")
        }
    }

    @Test func bindingAPortTwiceIsAddressInUse() throws {
        try withContext { context in
            let first = try ZMQSocket(context: context, type: .pull)
            let second = try ZMQSocket(context: context, type: .pull)
            defer { first.close(); second.close() }
            try first.bind("tcp://127.0.0.1:0")
            let endpoint = try first.lastEndpoint
            let error = #expect(throws: ZMQError.self) { try second.bind(endpoint) }
            #expect(error?.code == .addressInUse)
            // Nothing to add to "Address already in use", and no call or source location.
            #expect(error?.reason == error?.message)
        }
    }

    /// libzmq binds addresses and interface names, never host names: `localhost` is looked for
    /// as an interface, and the bare "No such device" gains what to give instead.
    @Test func bindingAHostNameSaysToGiveAnAddress() throws {
        try withContext { context in
            let socket = try ZMQSocket(context: context, type: .pull)
            defer { socket.close() }
            let error = #expect(throws: ZMQError.self) { try socket.bind("tcp://localhost:0") }
            #expect(error?.code == .noDevice)
            #expect(
                error?.reason
                    == "No such device (libzmq binds an address or an interface name, not a host name: give 127.0.0.1, "
                    + "or another of this host's addresses)")
        }
    }

    @Test func malformedEndpointIsInvalidArgument() throws {
        try withContext { context in
            let socket = try ZMQSocket(context: context, type: .pull)
            defer { socket.close() }
            let error = #expect(throws: ZMQError.self) { try socket.connect("tcp://") }
            #expect(error?.code == .invalidArgument)
        }
    }

    @Test func codesAreDistinctAndDescribed() {
        let codes: [ZMQError.Code] = [
            .again, .hostUnreachable, .contextTerminated, .interrupted, .invalidArgument,
            .notSupported, .protocolNotSupported, .addressInUse, .noDevice, .notSocket, .invalidState,
        ]
        #expect(Set(codes).count == codes.count)
        #expect(ZMQError.Code.contextTerminated.description == "Context was terminated")
    }
}

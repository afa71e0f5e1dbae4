import Foundation
import MServeProtocol
import MServeServant
import QData
import Testing
import ZeroMQ

/// A servant told to stop finishes the queries it is running and sends their answers before
/// it says goodbye. Meanwhile it still answers heartbeats, so that a broker does not take the
/// running queries for lost and run them again elsewhere, and starts no new query: those go
/// back to the broker's other servants at the goodbye.
struct ServantStopTests {
    @Test func aStoppingServantAnswersHeartbeatsAndItsRunningQueriesButStartsNoNewOne() async throws {
        var functions = FunctionRegistry()
        functions.register("slow", arity: 1...1) { arguments in
            guard case .atom(.long(let milliseconds)) = arguments[0] else { throw ServantError("slow: type") }
            Thread.sleep(forTimeInterval: Double(milliseconds) / 1_000)
            return .atom(.long(milliseconds))
        }
        let servant = try Servant(functions: functions)
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        let broker = try ZMQSocket(context: context, type: .dealer)
        try broker.setLinger(milliseconds: 0)
        try broker.setReceiveTimeout(milliseconds: 5_000)
        try broker.connect(try await servant.endpoint)
        try broker.send(multipart: [ServantLink.protocolMarker, ServantCommand.hello.frame, WireInteger.encode(7)])
        let ready = try #require(try broker.receiveMultipartBytes())
        #expect(ready.count == 3 && ready[1] == ServantCommand.ready.frame)

        func query(tag: UInt64, _ text: String) throws {
            try broker.send(multipart: [
                ServantLink.protocolMarker, ServantCommand.query.frame, WireInteger.encode(tag),
                QIPC.encode(.list([.atom(.long(Int64(tag))), .string(text)]), messageType: .async),
            ])
        }
        try query(tag: 1, "slow 1500")
        try await Task.sleep(for: .milliseconds(100))  // under way at a worker
        servant.stop()
        try await Task.sleep(for: .milliseconds(100))  // the servant is stopping
        try broker.send(multipart: [ServantLink.protocolMarker, ServantCommand.ping.frame])
        try query(tag: 2, "slow 1")

        var commands: [[UInt8]] = []
        var answeredTags: [UInt64] = []
        while commands.last != ServantCommand.bye.frame {
            let frames = try #require(try broker.receiveMultipartBytes(), "the servant stopped without a goodbye")
            try #require(frames.count >= 2)
            commands.append(frames[1])
            if frames[1] == ServantCommand.reply.frame {
                for first in stride(from: 2, to: frames.count, by: 3) {
                    answeredTags.append(try #require(WireInteger.decode(frames[first])))
                }
            }
        }
        #expect(commands.first == ServantCommand.pong.frame, "the heartbeat is answered while the query runs")
        #expect(answeredTags == [1], "the running query is answered, the new one not started")
        #expect(commands.last == ServantCommand.bye.frame)
        try await running.value
        broker.close()
        context.terminate()
    }
}

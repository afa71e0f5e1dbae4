import Foundation
import Testing
import ZeroMQ

struct ZMQProxyTests {
    @Test func theBuiltInProxyForwardsBothWays() throws {
        let context = try ZMQContext()
        let front = try ZMQSocket(context: context, type: .router)
        try front.bind("inproc://proxy-front")
        let back = try ZMQSocket(context: context, type: .dealer)
        try back.bind("inproc://proxy-back")
        let worker = try ZMQSocket(context: context, type: .dealer)
        try worker.connect("inproc://proxy-back")
        try worker.setReceiveTimeout(milliseconds: 5_000)
        let client = try ZMQSocket(context: context, type: .dealer)
        try client.connect("inproc://proxy-front")
        try client.setReceiveTimeout(milliseconds: 5_000)

        let proxy = ProxyThread(context: context, front: front, back: back)
        proxy.start()
        try client.send(Array("work".utf8))
        let request = try #require(try worker.receiveMultipartBytes())
        #expect(request.last == Array("work".utf8))
        try worker.send(multipart: Array(request.dropLast()) + [Array("done".utf8)])
        #expect(try client.receive()?.bytes == Array("done".utf8))

        client.close()
        worker.close()
        context.shutdown()
        proxy.waitUntilStopped()
        front.close()
        back.close()
        context.terminate()
    }
}

/// Runs zmq_proxy on its own thread; the sockets are handed over and used only there until it returns.
final class ProxyThread: @unchecked Sendable {
    private let context: ZMQContext
    private let front: ZMQSocket
    private let back: ZMQSocket
    private let done = DispatchSemaphore(value: 0)

    init(context: ZMQContext, front: ZMQSocket, back: ZMQSocket) {
        self.context = context
        self.front = front
        self.back = back
    }

    func start() {
        Thread {
            try? ZMQ.proxy(frontend: self.front, backend: self.back)
            self.done.signal()
        }.start()
    }

    func waitUntilStopped() { done.wait() }
}

import Logging
import MServeServant
import ZeroMQ

/// A servant running for the length of a test body: the servant tests' common set-up.
enum RunningServant {
    /// Runs `body` with a running servant's endpoint and a ZeroMQ context for the test's own
    /// sockets, then stops the servant and ends the context, whether `body` returned or threw.
    static func with(
        _ configuration: ServantConfiguration, functions: FunctionRegistry,
        logger: Logger = Logger(label: "mserve.servant"),
        _ body: (String, ZMQContext) async throws -> Void
    ) async throws {
        let servant = try Servant(configuration: configuration, functions: functions, logger: logger)
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        do {
            try await body(try await servant.endpoint, context)
        } catch {
            servant.stop()
            _ = await running.result
            context.terminate()
            throw error
        }
        servant.stop()
        try await running.value
        context.terminate()
    }
}

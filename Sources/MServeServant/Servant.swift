import Dispatch
import Foundation
public import Logging
import MServeProtocol
import MServeQuery
import QData
public import ServiceLifecycle
import Synchronization
import ZeroMQ

/// A servant as a `Service`: binds its port, answers brokers, runs registered functions on
/// its worker threads, and on graceful shutdown finishes what is running before it leaves.
public final class Servant: Service, Sendable {
    private let configuration: ServantConfiguration
    private let functions: FunctionRegistry
    private let logger: Logger
    private let mailbox: ZMQMailbox<ServantControl>
    private let startup = ZMQStartup<String>()
    private let started = Atomic<Bool>(false)
    /// This run's unique id, sent in READY and PONG so brokers notice a restart.
    public let incarnation: UInt64

    /// Creates a servant that serves `functions`. Throws when a function could never be called
    /// (``FunctionRegistry/checkCallable()``), or when its READY would be past
    /// ``ReadyLimits``, which brokers refuse: more functions (of those its allowlist lets
    /// through) than a READY may list, or a name longer than a READY's may be.
    public init(
        configuration: ServantConfiguration = ServantConfiguration(),
        functions: FunctionRegistry,
        logger: Logger = Logger(label: "mserve.servant")
    ) throws {
        try functions.checkCallable()
        let announced = functions.restricted(to: configuration.allowlist).names.count
        guard announced <= ReadyLimits.mostFunctions else {
            throw ServantError(
                "this servant serves \(announced) functions, and a READY may list at most \(ReadyLimits.mostFunctions) (docs/PROTOCOL.md): brokers would refuse it; serve fewer, or narrow them with --allow")
        }
        if let name = configuration.name, name.utf8.count > ReadyLimits.longestName {
            throw ServantError(
                "the servant's name is \(name.utf8.count) bytes long, and a READY's name may have at most \(ReadyLimits.longestName) (docs/PROTOCOL.md)")
        }
        self.configuration = configuration
        self.functions = functions
        self.logger = logger
        self.mailbox = try ZMQMailbox()
        self.incarnation = UInt64.random(in: 1...UInt64(Int64.max))
    }

    /// Runs until graceful shutdown or cancellation. A servant runs once: a second `run()`
    /// throws (make a new `Servant` to serve again).
    public func run() async throws {
        guard !started.exchange(true, ordering: .sequentiallyConsistent) else {
            throw ServantError("this servant has already run; make a new Servant to serve again")
        }
        let mailbox = mailbox
        try await ZMQLoopThread.runService(named: "mserve-servant", stop: { mailbox.post(.stop) }) { [self] in
            let loop = try startup.report(\.endpoint) {
                try ServantLoop(
                    configuration: configuration, functions: functions, logger: logger,
                    mailbox: mailbox, incarnation: incarnation)
            }
            loop.run()
        }
    }

    /// The endpoint brokers connect to (`tcp://host:port`, with the OS-chosen port), once
    /// bound. Throws the start-up error if binding failed.
    public var endpoint: String {
        get async throws { try await startup.value }
    }

    /// Asks the servant to stop (as on SIGTERM).
    public func stop() {
        mailbox.post(.stop)
    }
}

/// Commands other threads post to a servant's loop.
enum ServantControl: Sendable {
    case finished(ServantJob.Completion)
    /// A worker that sent its own answer found a message waiting (``DirectAnswers``).
    case socketReadable
    case stop
}

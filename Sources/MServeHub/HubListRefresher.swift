public import Logging
public import ServiceLifecycle

/// Keeps a list the hub holds — the allowed CURVE keys, the kdb+ users — in step with it: asks
/// at start and every `interval`, and applies the list when it changed. Until the hub first
/// answers, the caller's empty list stays in place, so everyone is refused; when the hub stops
/// answering, the last list is kept.
///
/// A hub that stops answering is logged once, then at most every `repeatedFailureLogInterval`
/// while it stays silent (not at every try: a broker reads its keys every heartbeat), and its
/// return once.
public struct HubListRefresher<List: Equatable & Sendable>: Service {
    /// What the list is, for the logs ("allowed keys").
    public let subject: String
    /// Who is refused until the hub first answers, for the logs ("every peer").
    public let refusedMeanwhile: String
    /// The hub's endpoint, for the logs.
    public let hub: String
    /// Reads the list from the hub.
    public let fetch: @Sendable () async throws -> List
    /// The list in use.
    public let current: @Sendable () -> List
    /// Puts a new list in use.
    public let apply: @Sendable (List) -> Void
    /// How many entries a list has, for the logs.
    public let count: @Sendable (List) -> Int
    /// Where the refresher logs.
    public let logger: Logger
    /// Time between two reads.
    public var interval: Duration = .seconds(1)
    /// How often a hub that stays silent is logged again.
    public var repeatedFailureLogInterval: Duration = .seconds(60)

    /// A refresher of the list `subject` held by the hub at `hub`.
    public init(
        subject: String, refusedMeanwhile: String, hub: String, fetch: @escaping @Sendable () async throws -> List,
        current: @escaping @Sendable () -> List, apply: @escaping @Sendable (List) -> Void,
        count: @escaping @Sendable (List) -> Int, logger: Logger
    ) {
        self.subject = subject
        self.refusedMeanwhile = refusedMeanwhile
        self.hub = hub
        self.fetch = fetch
        self.current = current
        self.apply = apply
        self.count = count
        self.logger = logger
    }

    /// Reads the list until the service group stops.
    public func run() async throws {
        var answered = false
        let clock = ContinuousClock()
        // Since when the hub has not answered, and when that was last logged.
        var failingSince: ContinuousClock.Instant?
        var lastLogged = clock.now
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                // Abandoned on shutdown: a hub that does not answer must not hold up the stop.
                let list = try await cancelWhenGracefulShutdown { try await fetch() }
                if let since = failingSince, answered {
                    logger.notice(
                        "the hub answers again; the \(subject) are read from it",
                        metadata: ["hub": "\(hub)", "silentFor": "\(since.duration(to: clock.now))"])
                }
                failingSince = nil
                if !answered || list != current() {
                    apply(list)
                    logger.info("\(subject) updated from the hub", metadata: ["count": "\(count(list))"])
                }
                answered = true
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { break }
                let now = clock.now
                if let since = failingSince {
                    if lastLogged.duration(to: now) >= repeatedFailureLogInterval {
                        lastLogged = now
                        logger.warning(
                            answered
                                ? "still cannot refresh the \(subject); keeping the last list"
                                : "still cannot read the \(subject) from the hub; refusing \(refusedMeanwhile)",
                            metadata: ["hub": "\(hub)", "failingFor": "\(since.duration(to: now))", "error": "\(error)"])
                    }
                } else {
                    failingSince = now
                    lastLogged = now
                    logger.warning(
                        answered
                            ? "cannot refresh the \(subject); keeping the last list"
                            : "cannot read the \(subject) from the hub; refusing \(refusedMeanwhile) until it answers",
                        metadata: ["hub": "\(hub)", "error": "\(error)"])
                }
            }
            let interval = interval
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}

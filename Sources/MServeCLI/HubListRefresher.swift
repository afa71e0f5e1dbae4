import Logging
import ServiceLifecycle

/// Keeps a list the hub holds — the allowed CURVE keys, the kdb+ users — in step with it: asks
/// at start and every `interval`, and applies the list when it changed. Until the hub first
/// answers, the caller's empty list stays in place, so everyone is refused; when the hub stops
/// answering, the last list is kept.
struct HubListRefresher<List: Equatable & Sendable>: Service {
    /// What the list is, for the logs ("allowed keys").
    let subject: String
    /// Who is refused until the hub first answers, for the logs ("every peer").
    let refusedMeanwhile: String
    /// The hub's endpoint, for the logs.
    let hub: String
    /// Reads the list from the hub.
    let fetch: @Sendable () async throws -> List
    /// The list in use.
    let current: @Sendable () -> List
    /// Puts a new list in use.
    let apply: @Sendable (List) -> Void
    /// How many entries a list has, for the logs.
    let count: @Sendable (List) -> Int
    let logger: Logger
    /// Time between two reads.
    var interval: Duration = .seconds(1)

    func run() async throws {
        var answered = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                // Abandoned on shutdown: a hub that does not answer must not hold up the stop.
                let list = try await cancelWhenGracefulShutdown { try await fetch() }
                if !answered || list != current() {
                    apply(list)
                    logger.info("\(subject) updated from the hub", metadata: ["count": "\(count(list))"])
                }
                answered = true
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { break }
                logger.warning(
                    answered
                        ? "cannot refresh the \(subject); keeping the last list"
                        : "cannot read the \(subject) from the hub; refusing \(refusedMeanwhile) until it answers",
                    metadata: ["hub": "\(hub)", "error": "\(error)"])
            }
            let interval = interval
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}

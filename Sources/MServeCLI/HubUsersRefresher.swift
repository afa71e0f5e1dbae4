import ArgumentParser
import Logging
import MServeBroker
import MServeHub
import ServiceLifecycle

/// Keeps a broker's kdb+ users (`--users hub`) in step with the hub's `users` table: asks at
/// start and every `interval`. Until the hub first answers every login is refused; when the hub
/// stops answering the last list is kept.
struct HubUsersRefresher: Service {
    let client: HubClient
    let list: KdbUserList
    let logger: Logger
    var interval: Duration = .seconds(1)

    /// The refresher for `list` with the hub of `mode` (`--hub`; required), speaking CURVE with
    /// `security`'s keys when it is on.
    static func make(list: KdbUserList, hub mode: HubMode?, security: ProcessSecurity?, logger: Logger) throws -> Self {
        guard let mode else {
            throw ValidationError("--users hub needs --hub ENDPOINT (the hub keeps the users)")
        }
        var client = HubClient(endpoint: security != nil ? try ProcessSecurity.hubEndpoint(mode) : mode.endpoint, timeout: .seconds(2))
        client.curve = security?.hubKeys
        return HubUsersRefresher(client: client, list: list, logger: logger)
    }

    func run() async throws {
        var answered = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let users = KdbUsers(
                    digests: Dictionary(
                        try await client.users().map { ($0.name, $0.digest) }, uniquingKeysWith: { _, last in last }))
                if !answered || users != list.users {
                    list.replace(users)
                    logger.info("kdb+ users updated from the hub", metadata: ["count": "\(users.passwords.count)"])
                }
                answered = true
            } catch {
                logger.warning(
                    answered
                        ? "cannot refresh the kdb+ users; keeping the last list"
                        : "cannot read the kdb+ users from the hub; refusing every login until it answers",
                    metadata: ["hub": "\(client.endpoint)", "error": "\(error)"])
            }
            let interval = interval
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}

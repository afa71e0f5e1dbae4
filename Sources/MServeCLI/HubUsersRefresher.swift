import ArgumentParser
import Logging
import MServeBroker
import MServeHub
import ServiceLifecycle

/// Keeps a broker's kdb+ users (`--users hub`) in step with the hub's `users` table.
enum HubUsersRefresher {
    /// The refresher for `list` with the hub of `mode` (`--hub`; required), speaking CURVE with
    /// `security`'s keys when it is on.
    static func make(
        list: KdbUserList, hub mode: HubMode?, security: ProcessSecurity?, logger: Logger
    ) throws -> HubListRefresher<KdbUsers> {
        guard let mode else {
            throw ValidationError("--users hub needs --hub ENDPOINT (the hub keeps the users)")
        }
        var client = HubClient(endpoint: security != nil ? try ProcessSecurity.hubEndpoint(mode) : mode.endpoint, timeout: .seconds(2))
        client.curve = security?.hubKeys
        return HubListRefresher(
            subject: "kdb+ users", refusedMeanwhile: "every login", hub: client.endpoint,
            fetch: { [client] in
                // A hash that cannot be read lets nobody in as its user.
                let entries = try await client.users().compactMap { user in
                    StoredPassword(hubText: user.hash).map { (user.name, $0) }
                }
                return KdbUsers(passwords: Dictionary(entries, uniquingKeysWith: { _, last in last }))
            },
            current: { list.users ?? KdbUsers(passwords: [:]) },
            apply: { list.replace($0) },
            count: { $0.passwords.count }, logger: logger)
    }
}

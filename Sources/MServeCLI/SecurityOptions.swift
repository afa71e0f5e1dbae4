import ArgumentParser
import Foundation
import Logging
import MServeHub
import ServiceLifecycle
import ZeroMQ

/// `--keys DIR` and `--key-name NAME` for a servant or a broker: with a key directory the
/// process speaks CURVE with `DIR/NAME.key`, pins the hub to `DIR/hub.pub`, and admits only the
/// keys the hub lists in the role it needs (brokers for a servant, clients for a broker).
/// `mserve send` has its own, as it keeps no allowed list.
struct SecurityOptions: ParsableArguments {
    @Option(
        name: .long,
        parsing: .unconditional,
        help: ArgumentHelp(
            "Key directory: speak CURVE with NAME.key, trusting hub.pub and the keys the hub allows in the role each use needs (env MSERVE_KEYS).",
            valueName: "path"))
    var keys: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("This process's key in the key directory (default: its role).", valueName: "name"))
    var keyName: String?

    /// Refuses `--key-name` without a key directory: it would do nothing.
    func validate() throws {
        if keyName != nil, keyDirectory(keys) == nil {
            throw ValidationError(
                "--key-name names a key in the key directory: give --keys DIR (or MSERVE_KEYS) with it, or leave it out to run without security")
        }
    }

    /// The security of a servant or broker: it needs a hub endpoint to learn the allowed keys.
    func security(defaultName role: String, hub: HubMode?) throws -> ProcessSecurity? {
        guard let security = try security(defaultName: role) else { return nil }
        _ = try ProcessSecurity.hubEndpoint(hub, keysFrom: keyDirectorySource(keys))
        return security
    }

    /// The process's security, nil when it is off; `role` names the default key.
    func security(defaultName role: String) throws -> ProcessSecurity? {
        guard let directory = keyDirectory(keys) else { return nil }
        do {
            return ProcessSecurity(
                directory: directory, keyPair: try directory.keyPair(keyName ?? role),
                hubPublicKey: try directory.publicKey("hub"))
        } catch {
            throw ValidationError("\(keyDirectorySource(keys)): \(error)")
        }
    }
}

/// One process's CURVE keys and the allowed lists it keeps from the hub.
struct ProcessSecurity: Sendable {
    /// The key directory.
    let directory: ZMQKeyDirectory
    /// This process's key pair.
    let keyPair: ZMQCurveKeyPair
    /// The hub's public key (`hub.pub`).
    let hubPublicKey: String
    /// The keys the hub allows, by the role they may be used in; empty (refusing everyone) until
    /// the hub first answers.
    let allowedKeys = AllowedKeyLists()

    /// What a CURVE server socket of this process needs to admit only keys allowed as `peerRole`
    /// (a servant's ROUTER admits brokers, a broker's client socket clients).
    func serverKeys(admitting peerRole: KeyRole) -> ZMQCurveServerKeys {
        ZMQCurveServerKeys(keyPair: keyPair, allowedKeys: allowedKeys.keys(permitting: peerRole))
    }

    /// What a connection to the hub needs.
    var hubKeys: ZMQCurveClientKeys { ZMQCurveClientKeys(serverPublicKey: hubPublicKey, keyPair: keyPair) }

    /// The hub endpoint to use with security on: auto mode cannot pin a hub key. `keysFrom`
    /// names what gave the key directory (`--keys` or `MSERVE_KEYS`), for the error.
    static func hubEndpoint(_ mode: HubMode?, keysFrom source: String = "--keys") throws -> String {
        guard case .connect(let endpoint)? = mode else {
            if mode == nil {
                throw ValidationError("\(source) needs --hub ENDPOINT (or MSERVE_HUB): the hub lists the allowed keys")
            }
            throw ValidationError("\(source) needs --hub ENDPOINT, not auto: the hub lists the allowed keys, and auto mode is not secured")
        }
        return endpoint
    }

    /// A service that keeps ``allowedKeys`` in step with the hub at `hub`, calling `onChange`
    /// after each change.
    func refresher(
        hub: String, logger: Logger, onChange: @escaping @Sendable () -> Void = {}
    ) -> HubListRefresher<[AllowedKey]> {
        var client = HubClient(endpoint: hub, timeout: .seconds(2))
        client.curve = hubKeys
        let keys = allowedKeys
        return HubListRefresher(
            subject: "allowed keys", refusedMeanwhile: "every peer", hub: hub,
            fetch: { [client] in try await client.allowedKeys() },
            current: { keys.keys },
            apply: { list in
                keys.replace(list)
                onChange()
            },
            count: { $0.count }, logger: logger)
    }
}

import ArgumentParser
import Foundation
import Logging
import MServeHub
import ServiceLifecycle
import ZeroMQ

/// `--keys DIR` and `--key-name NAME` for a servant, a broker or a client: with a key directory
/// the process speaks CURVE with `DIR/NAME.key`, pins the hub to `DIR/hub.pub`, and admits only
/// the keys the hub lists.
struct SecurityOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Key directory: speak CURVE with NAME.key, trusting hub.pub and the keys the hub allows (env MSERVE_KEYS).",
            valueName: "path"))
    var keys: String?

    @Option(name: .long, help: ArgumentHelp("This process's key in the key directory (default: its role).", valueName: "name"))
    var keyName: String?

    /// The security of a servant or broker: it needs a hub endpoint to learn the allowed keys.
    func security(defaultName role: String, hub: HubMode?) throws -> ProcessSecurity? {
        guard let security = try security(defaultName: role) else { return nil }
        _ = try ProcessSecurity.hubEndpoint(hub)
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
            throw ValidationError("--keys: \(error)")
        }
    }
}

/// One process's CURVE keys and the allowed list it keeps from the hub.
struct ProcessSecurity: Sendable {
    /// The key directory.
    let directory: ZMQKeyDirectory
    /// This process's key pair.
    let keyPair: ZMQCurveKeyPair
    /// The hub's public key (`hub.pub`).
    let hubPublicKey: String
    /// The keys the hub allows; empty (refusing everyone) until the hub first answers.
    let allowedKeys = ZAPKeyList()

    /// What a CURVE server socket of this process needs.
    var serverKeys: ZMQCurveServerKeys { ZMQCurveServerKeys(keyPair: keyPair, allowedKeys: allowedKeys) }

    /// What a connection to the hub needs.
    var hubKeys: ZMQCurveClientKeys { ZMQCurveClientKeys(serverPublicKey: hubPublicKey, keyPair: keyPair) }

    /// The hub endpoint to use with security on: auto mode cannot pin a hub key.
    static func hubEndpoint(_ mode: HubMode?) throws -> String {
        guard case .connect(let endpoint)? = mode else {
            throw ValidationError("--keys needs --hub ENDPOINT (the hub lists the allowed keys; auto mode is not secured)")
        }
        return endpoint
    }

    /// A service that keeps ``allowedKeys`` in step with the hub at `hub`, calling `onChange`
    /// after each change.
    func refresher(
        hub: String, logger: Logger, onChange: @escaping @Sendable () -> Void = {}
    ) -> HubListRefresher<[String: String]> {
        var client = HubClient(endpoint: hub, timeout: .seconds(2))
        client.curve = hubKeys
        let keys = allowedKeys
        return HubListRefresher(
            subject: "allowed keys", refusedMeanwhile: "every peer", hub: hub,
            fetch: { [client] in
                Dictionary(try await client.allowedKeys().map { ($0.key, $0.name) }, uniquingKeysWith: { _, last in last })
            },
            current: { keys.keys },
            apply: { list in
                keys.replace(list)
                onChange()
            },
            count: { $0.count }, logger: logger)
    }
}

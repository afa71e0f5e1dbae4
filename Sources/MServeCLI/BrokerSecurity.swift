import Logging
import MServeBroker
import MServeHub
import ServiceLifecycle

/// A secured broker's helpers: the refresher of the allowed keys and a hub watcher whose
/// servants are admitted by their CURVE key, which must be allowed as a servant (a revoked
/// servant is dropped at the next refresh).
enum BrokerSecurity {
    /// The services to run beside `broker` when security is on. The allowed keys are read
    /// every `heartbeatInterval`, so a revoked servant is dropped within about one heartbeat.
    static func services(
        broker: Broker, service: String, hub: String, security: ProcessSecurity, heartbeatInterval: Duration,
        logger: Logger
    ) throws -> [any Service] {
        let admission = ServantKeyAdmission(
            broker: broker, allowedKeys: security.allowedKeys.keys(permitting: .servant), logger: logger)
        var refresher = security.refresher(hub: hub, logger: logger, onChange: { admission.reconcile() })
        refresher.interval = heartbeatInterval
        return [
            refresher,
            try HubWatcher(
                service: service, hub: hub, logger: logger, curve: security.hubKeys,
                onJoin: { admission.offer(endpoint: $0.endpoint, key: $0.curveKey) },
                onLeave: { admission.withdraw(endpoint: $0.endpoint) }),
        ]
    }
}

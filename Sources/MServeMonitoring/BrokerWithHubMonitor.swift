import Foundation
import Prometheus

/// Shows a broker in `--hub auto` mode over one listener: the broker as ``BrokerMonitor`` does,
/// and, while this process serves the hub, the hub as ``HubMonitor`` does: its `mserve_hub_*`
/// series in `/metrics`, its spokes and crash reports under `hub` in `status.json` and on the
/// page. Health and readiness are the broker's: the process is there to broker queries.
public final class BrokerWithHubMonitor: MonitoredProcess {
    private let broker: BrokerMonitor
    private let hub: HubMonitor

    /// Shows `broker` and `hub`, which must publish into the same registry (the one `/metrics`
    /// emits).
    public init(broker: BrokerMonitor, hub: HubMonitor) {
        precondition(broker.registry === hub.registry, "the broker and the hub publish into one registry")
        self.broker = broker
        self.hub = hub
    }

    public func sample() async { await broker.sample() }

    public func refresh() async -> MonitoredState {
        var state = await broker.refresh()
        let hubState = await hub.refresh()
        // The broker's status, with the hub's beside it.
        if var status = (try? JSONSerialization.jsonObject(with: Data(state.json))) as? [String: Any],
            let hubStatus = try? JSONSerialization.jsonObject(with: Data(hubState.json))
        {
            status["hub"] = hubStatus
            if let json = try? JSONSerialization.data(withJSONObject: status, options: [.sortedKeys]) {
                state.json = Array(json)
            }
        }
        return state
    }

    public func metrics() async -> [UInt8] {
        _ = await hub.refresh()
        return await broker.metrics()
    }
}

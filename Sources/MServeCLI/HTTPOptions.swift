import ArgumentParser
import Logging
import MServeBroker
import MServeHub
import MServeMonitoring
import ServiceLifecycle

/// `--http` and `--http-allow-remote`: the HTTP side of a broker or hub (metrics, status page,
/// health checks; docs/OPERATIONS.md, "Monitoring").
struct HTTPOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Serve /metrics (Prometheus), the status page at /, /healthz and /readyz over HTTP on HOST:PORT (PORT alone: 127.0.0.1:PORT). GET and HEAD only, no authentication; on loopback, a loopback Host only (env MSERVE_HTTP).", valueName: "address"))
    var http: String?

    @Flag(name: .long, help: "Let --http bind an address other machines can reach (its pages have no authentication): needed with --keys; without, it silences the warning such a bind logs at start.")
    var httpAllowRemote = false

    /// The address to serve on, checked against the safety rules; nil without --http.
    func address(securityOn: Bool) throws -> HTTPBindAddress? {
        let source = http == nil ? "MSERVE_HTTP" : "--http"
        guard let text = http ?? environment("MSERVE_HTTP"), !text.isEmpty else { return nil }
        do {
            var address = try HTTPBindAddress(parsing: text)
            address.source = source
            address.remoteAccepted = httpAllowRemote
            try address.checkSafe(securityOn: securityOn, allowRemote: httpAllowRemote)
            return address
        } catch {
            throw ValidationError("\(source): \(error.message)")
        }
    }
}

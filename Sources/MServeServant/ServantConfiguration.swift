public import MServeQuery
public import ZeroMQ
import MServeProtocol

/// Everything a servant is configured with.
public struct ServantConfiguration: Sendable {
    /// The endpoint to bind; port 0 lets the OS choose a free port. The default,
    /// `tcp://127.0.0.1:0`, listens on loopback only: binding an address other hosts reach
    /// (or `tcp://*:PORT`, every interface) is the operator's choice.
    public var endpoint: String = "tcp://127.0.0.1:0"
    /// Worker threads: how many queries run at once (q's `-s`). At least 1.
    public var threads: Int = 1
    /// How many queries a broker may send before earlier ones are answered; nil means
    /// `threads`, mserve's rule (a servant is busy while it runs a query). A larger value
    /// lets a broker pipeline queries into the servant's own queue, for throughput over
    /// latency: the extra ones wait here instead of in the broker's queue. Announced in
    /// READY and held to: a query that would take one broker session's queries here (running
    /// or waiting for a thread) past it is answered at once with an error, never run.
    public var capacity: Int? = nil
    /// How many direct queries (``acceptsDirectQueries``) may be here at once, running or
    /// waiting for a thread, from all direct clients together; nil means ``capacity`` (or
    /// `threads`). One more is answered at once with an error, never run.
    public var directCapacity: Int? = nil
    /// The name brokers show for this servant; nil means `host:port` as the broker sees it.
    public var name: String? = nil
    /// The host others should use to reach this servant; nil means this machine's loopback
    /// address when bound to all interfaces.
    public var advertisedHost: String? = nil
    /// The functions queries may call, checked before each query runs, a broker's or a direct
    /// one: a function the list does not name is refused as a broker's `--allow` refuses it,
    /// and is left out of the `functions` READY announces. `.any` (the default) allows every
    /// function the registry serves.
    public var allowlist: FunctionAllowlist = .any
    /// Whether queries sent straight to the servant, without a broker (PROTOCOL.md §3), are
    /// run. Off by default, since they bypass the broker's allowlist and admission: each is
    /// answered with an error reply, `(id; 'mserve: this servant takes queries from brokers
    /// only…)`, and logged (at most once every 10 seconds, with a count).
    public var acceptsDirectQueries: Bool = false
    /// The service this servant belongs to (the hub resolves services by name).
    public var service: String = "default"
    /// The most queries a broker may send in one `QUERY` message, announced in READY; each
    /// query past it in one `QUERY` is answered at once with an error, never run. The
    /// servant also sends a broker up to this many answers in one `REPLY` when the broker's
    /// HELLO says it takes that many. Answers that are ready together travel together;
    /// nothing waits for a batch to fill. 1 turns batching off.
    public var batchLimit: Int = 64
    /// Largest message accepted from a broker or a direct client, on the wire and, for a
    /// compressed one, once decompressed: a larger frame ends the peer's connection (libzmq's
    /// `ZMQ_MAXMSGSIZE`), and a compressed query announcing more is answered with an error
    /// without being decompressed. A broker's compressed query is held to the lower limit its
    /// HELLO announces (the broker's `--max-message`), if any.
    public var maxMessageSize: Int64 = 256 << 20
    /// How often the servant logs a status line (queries answered and their rate, running or
    /// waiting here) while it has work; an idle servant stays quiet. Nil: never.
    public var statusInterval: Duration? = .seconds(60)
    /// How long a broker may go unheard before its session is forgotten (it went without its
    /// BYE: killed, or its host lost). Brokers heartbeat far more often (every 400 ms by
    /// default); a forgotten broker that comes back is served as before.
    public var brokerSessionTimeout: Duration = ServantLink.brokerSessionTimeout
    /// How long a stopping servant waits for the queries it is running before it leaves
    /// anyway; their brokers then run them elsewhere. A servant whose queries run longer
    /// gives them longer.
    public var drainTimeout: Duration = .seconds(5)
    /// How long a stopping servant goes on waiting for a broker to acknowledge its DRAIN (a
    /// PING carrying the frame `DRAIN`, after which no QUERY of that broker can reach it)
    /// once nothing has been heard from that broker: a broker silent this long is taken as
    /// gone, not waited for until the end of `drainTimeout`. The broker's default liveness
    /// time (`mserve broker --liveness 1.6`); a live broker heartbeats every 400 ms by default.
    public var drainAcknowledgementSilence: Duration = .milliseconds(1_600)
    /// With security on: the servant's CURVE key pair and the broker keys it admits; nil
    /// (the default) serves without security.
    public var curve: ZMQCurveServerKeys? = nil

    /// Creates the default configuration.
    public init() {}
}

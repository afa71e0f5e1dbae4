import Hummingbird
import HummingbirdCore
public import Logging
import NIOCore
import NIOHTTP1
import POSIXSockets
import Prometheus
public import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The HTTP side of a broker or hub, a `Service`: `/metrics` (Prometheus text format), the
/// status page at `/` and its `/status.json`, `/healthz` and `/readyz`. Serves GET (and HEAD,
/// as GET without the body) only, to at most ``ConnectionLimits/maxConnections`` connections at
/// once, each closed when it sends no request part for ``ConnectionLimits/requestTimeout``;
/// bound to loopback, only to a request with one `Host`, a loopback name or address (the
/// authority of an absolute-form target, `GET http://HOST/path`, counting as its `Host`); bound
/// where other machines reach it, with a warning at start unless the address was accepted so
/// (``HTTPBindAddress/remoteAccepted``). Run it before the process it shows in a
/// `ServiceGroup`, so that it stops after it.
///
/// ```swift
/// let broker = try Broker(configuration: config, plugins: registry)
/// let http = MonitoringServer(address: try HTTPBindAddress(parsing: "127.0.0.1:9464"),
///                             process: BrokerMonitor(broker: broker, service: "default"))
/// try await ServiceGroup(services: [http, broker], gracefulShutdownSignals: [.sigterm], logger: logger).run()
/// ```
public final class MonitoringServer: Service, Sendable {
    private let address: HTTPBindAddress
    private let process: any MonitoredProcess
    private let sampleInterval: Duration
    private let limits: ConnectionLimits
    private let logger: Logger
    private let bound = BoundPort()
    private let connections: HTTPConnectionCount

    /// Serves `process` on `address`; its status is sampled every `sampleInterval` for the
    /// charts; `limits` bound the connections.
    public init(
        address: HTTPBindAddress, process: any MonitoredProcess, sampleInterval: Duration = .seconds(2),
        limits: ConnectionLimits = ConnectionLimits(), logger: Logger = Logger(label: "mserve.http")
    ) {
        self.address = address
        self.process = process
        self.sampleInterval = sampleInterval
        self.limits = limits
        self.logger = logger
        connections = HTTPConnectionCount(maximum: max(1, limits.maxConnections), logger: logger)
    }

    /// The HTTP connections open now (those counted against ``ConnectionLimits/maxConnections``).
    public var openConnections: Int { connections.current }

    /// The port the server bound (the real one when asked for port 0), once bound. Throws
    /// when it could not bind.
    public var port: Int {
        get async throws {
            while true {
                if let result = bound.result.withLock({ $0 }) { return try result.get() }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    /// Throws the error ``run()`` would fail with when the address cannot be bound now (a port
    /// another process listens on, an address this host does not have): binds a socket there
    /// as the server will (`SO_REUSEADDR`) and closes it. A process calls it before anything
    /// else starts, so that a taken `--http` port stops it before it logs that it serves.
    /// Port 0 (any free port) is always available. The server's own bind remains the final
    /// word: the port may be taken between this check and ``run()``.
    public func checkAvailable() throws(MonitoringError) {
        guard address.port != 0, let reason = TCPSocket.bindFailure(host: address.host, port: address.port) else { return }
        throw MonitoringError(.server, "cannot serve HTTP on \(address) (\(address.source)): \(reason)")
    }

    /// Runs the server until graceful shutdown or cancellation. Its listening socket and its
    /// connections are closed on exec (``HTTPListener``): no process started by this one
    /// inherits the port.
    public func run() async throws {
        let listener: HTTPListener
        do {
            listener = try HTTPListener(host: address.host, port: address.port)
        } catch {
            // Failing to bind (the address taken, say) is a start-up error the user fixes: it
            // names the address and the flag, and the system's reason alone.
            let unbound = MonitoringError(.server, "cannot serve HTTP on \(address) (\(address.source)): \(Self.reason(error))")
            bound.result.withLock { if $0 == nil { $0 = .failure(unbound) } }
            throw unbound
        }
        let port = listener.port
        bound.result.withLock { $0 = .success(port) }
        logger.info("HTTP monitoring listening", metadata: ["address": "\(address.host):\(port)"])
        // Reachable from other machines, it shows the deployment to anyone there: said once, at
        // start, unless the bind was accepted as meant.
        if !address.isLoopback && !address.remoteAccepted {
            logger.warning(
                "the HTTP side listens on \(HTTPBindAddress(host: address.host, port: port)) without authentication: anyone who reaches it can read the metrics and the status page (servant and spoke endpoints, hosts, pids, crash reasons); bind it to loopback (--http PORT) and let a local scraper or an authenticating proxy reach it, or firewall the port to the scrapers (--http-allow-remote accepts the bind without this warning)")
        }
        let connections = connections
        let connection = AbsoluteFormHTTP1Channel(
            HTTP1Channel(
                responder: Self.responder(makeRouter().buildResponder(), logger: logger),
                configuration: HTTP1Channel.Configuration(
                    additionalChannelHandlers: [HTTPConnectionCapHandler(count: connections)],
                    idleTimeout: TimeAmount(limits.requestTimeout))))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [process, sampleInterval] in
                while !Task.isCancelled {
                    await process.sample()
                    try? await Task.sleep(for: sampleInterval)
                }
            }
            defer { group.cancelAll() }
            await listener.serve(connection, logger: logger)
        }
    }

    /// What answers each request, as Hummingbird's `Application` answers one: `router`'s
    /// response, a request context made for it; a failure the router did not turn into a
    /// response is a 500 (a request the parser refused is left to the connection, which
    /// answers 400); every response says its `Date` and `Server: mserve`.
    static func responder(
        _ router: RouterResponder<BasicRequestContext>, logger: Logger
    ) -> HTTPChannelHandler.Responder {
        { request, writer, channel in
            var response: Response
            do {
                response = try await router.respond(
                    to: request, context: BasicRequestContext(source: .init(channel: channel, logger: logger)))
            } catch let error as HTTPParserError {
                throw error
            } catch {
                logger.debug("an HTTP route failed", metadata: ["error": "\(error)"])
                response = Response(status: .internalServerError)
            }
            response.headers[.date] = HTTPDate.now
            response.headers[.server] = "mserve"
            do {
                try await writer.write(response: response.head, body: response.body)
            } catch is HTTPParserError {
                // Thrown on, it would have the connection write a second response; any other
                // error closes it.
                throw ResponseInterrupted()
            }
        }
    }

    /// A response cut short by a request the parser refused: the connection closes.
    private struct ResponseInterrupted: Error {}

    /// The system's reason for a socket call that failed (`Address already in use`), else the
    /// error as it describes itself.
    static func reason(_ error: any Error) -> String {
        if let error = error as? SocketError, let number = error.systemErrorNumber { return String(cString: strerror(number)) }
        return "\(error)"
    }

    private func makeRouter() -> Router<BasicRequestContext> {
        // HEAD is answered as GET, without the body (RFC 9110): probes that use it see the
        // status a GET would get.
        let router = Router(options: .autoGenerateHeadEndpoints)
        // Bound to loopback, only a loopback name reaches it: a page in a local browser whose
        // name was rebound to 127.0.0.1 (DNS rebinding) is refused.
        if address.isLoopback { router.add(middleware: LoopbackHostMiddleware(boundHost: address.host)) }
        router.add(middleware: GetOnlyMiddleware())
        let process = process
        router.get("/") { _, _ in
            Self.response(.ok, contentType: "text/html; charset=utf-8", StatusPage.html)
        }
        router.get("/status.json") { _, _ in
            let state = await process.refresh()
            return Self.response(.ok, contentType: "application/json", bytes: state.json)
        }
        router.get("/metrics") { _, _ in
            Self.response(.ok, contentType: "text/plain; version=0.0.4; charset=utf-8", bytes: await process.metrics())
        }
        router.get("/healthz") { _, _ in
            let state = await process.refresh()
            return state.live
                ? Self.response(.ok, contentType: "text/plain; charset=utf-8", "ok\n")
                : Self.response(.serviceUnavailable, contentType: "text/plain; charset=utf-8", "stopped\n")
        }
        router.get("/readyz") { _, _ in
            let state = await process.refresh()
            return Self.response(
                state.ready ? .ok : .serviceUnavailable, contentType: "text/plain; charset=utf-8",
                (state.ready ? "ready: " : "not ready: ") + state.readiness + "\n")
        }
        return router
    }

    private static func response(_ status: HTTPResponse.Status, contentType: String, _ text: String) -> Response {
        response(status, contentType: contentType, bytes: Array(text.utf8))
    }

    private static func response(_ status: HTTPResponse.Status, contentType: String, bytes: [UInt8]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Answers anything but GET and HEAD with 405 Method Not Allowed: the HTTP side only shows.
struct GetOnlyMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard request.method == .get || request.method == .head else {
            var headers = HTTPFields()
            headers[.allow] = "GET, HEAD"
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(
                status: .methodNotAllowed, headers: headers,
                body: ResponseBody(byteBuffer: ByteBuffer(string: "only GET and HEAD are served\n")))
        }
        return try await next(request, context)
    }
}

/// On a loopback bind, serves only a request with one `Host` that is a loopback name or
/// address (`localhost`, `127.*`, `[::1]`, or the bound host; any port): a browser sends the
/// name it looked up, so a page whose name was rebound to 127.0.0.1 (DNS rebinding) cannot read
/// the status page or the metrics. Another `Host` gets 421 Misdirected Request; a request with
/// no `Host` (HTTP/1.0 too: it names no host to check), more than one, or one that is not
/// `host[:port]`, gets 400 Bad Request (RFC 9110 §7.2). An absolute-form target's authority
/// is the `Host` here (``AbsoluteFormHostHandler``).
struct LoopbackHostMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The host the HTTP side is bound to (`127.0.0.1`, `::1`, `localhost`).
    let boundHost: String

    /// What every refusal ends with: what this HTTP side serves.
    private static var served: String {
        "this HTTP side is bound to loopback and serves only a loopback Host (localhost, 127.0.0.1, [::1])"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let authority = request.head.authority else {
            return Self.refusal(.badRequest, "refused: the request has no Host header; \(Self.served)\n")
        }
        // Hummingbird takes the first `Host` as the authority and leaves any further one among
        // the header fields.
        guard !request.headers.contains(where: { $0.name.canonicalName == "host" }) else {
            return Self.refusal(.badRequest, "refused: the request has more than one Host header; \(Self.served)\n")
        }
        guard Self.isWellFormed(authority: authority) else {
            return Self.refusal(
                .badRequest, "refused: the request's Host is not a host name or address with an optional port; \(Self.served)\n")
        }
        guard Self.isLoopback(authority: authority, boundHost: boundHost) else {
            return Self.refusal(.misdirectedRequest, "refused: \(Self.served)\n")
        }
        return try await next(request, context)
    }

    private static func refusal(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// Whether `authority` is `host[:port]` as RFC 3986 writes it, without a user part: a name
    /// or IPv4 address (letters, digits, `-._~`, `%XX`, `!$&'()*+,;=`) or an IPv6 address in
    /// brackets, then maybe `:` and digits. Empty is well formed (a target without a host).
    static func isWellFormed(authority: String) -> Bool {
        var host = Substring(authority)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let rest = host[host.index(after: close)...]
            guard rest.isEmpty || (rest.first == ":" && rest.dropFirst().allSatisfy(\.isASCIIDigit)) else { return false }
            return host[host.index(after: host.startIndex)..<close].allSatisfy { $0.isASCIIHexDigit || $0 == ":" || $0 == "." }
        }
        if let colon = host.firstIndex(of: ":") {
            guard host[host.index(after: colon)...].allSatisfy(\.isASCIIDigit) else { return false }
            host = host[..<colon]
        }
        var rest = host[...]
        while let character = rest.first {
            if character == "%" {
                let escape = rest.dropFirst().prefix(2)
                guard escape.count == 2, escape.allSatisfy(\.isASCIIHexDigit) else { return false }
                rest = rest.dropFirst(3)
            } else {
                guard character.isASCII, character.isLetter || character.isNumber || "-._~!$&'()*+,;=".contains(character)
                else { return false }
                rest = rest.dropFirst()
            }
        }
        return true
    }

    /// Whether `authority` (a `Host` header: a name or address, then maybe `:PORT`) names
    /// this machine's loopback: `localhost`, an address in 127.0.0.0/8, `[::1]`, or `boundHost`.
    static func isLoopback(authority: String, boundHost: String) -> Bool {
        var host = Substring(authority.lowercased())
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let rest = host[host.index(after: close)...]
            guard rest.isEmpty || Self.isPort(rest) else { return false }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            guard Self.isPort(host[colon...]) else { return false }
            host = host[..<colon]
        }
        if host == "localhost" || host == "::1" || host == Substring(boundHost.lowercased()) { return true }
        return IPv4Address.literal(String(host)).map(IPv4Address.isLoopback) ?? false
    }

    /// Whether `text` is `:` and a port number (`:` alone is allowed: an empty port).
    private static func isPort(_ text: Substring) -> Bool {
        text.first == ":" && text.dropFirst().count <= 5 && text.dropFirst().allSatisfy(\.isASCIIDigit)
    }
}

extension Character {
    /// Whether this is one of `0`…`9`.
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }

    /// Whether this is one of `0`…`9`, `a`…`f`, `A`…`F`.
    fileprivate var isASCIIHexDigit: Bool { isASCII && isHexDigit }
}

/// Hummingbird's HTTP/1 channel with an ``AbsoluteFormHostHandler`` and a
/// ``CloseAfterResponseHandler`` right after the HTTP/1 decoder, where the request line's
/// target and version are still whole: what Hummingbird then hands on keeps only the target's
/// path, and no version.
struct AbsoluteFormHTTP1Channel: ServerChildChannel {
    private let channel: HTTP1Channel

    init(_ channel: HTTP1Channel) {
        self.channel = channel
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        self.channel.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(AbsoluteFormHostHandler(), position: .after(decoder))
            try pipeline.addHandler(CloseAfterResponseHandler(), position: .after(decoder))
            return value
        }
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        await channel.handle(value: value, logger: logger)
    }
}

/// Marks a request after which the connection is to be closed, as NIO reads it (HTTP/1.0
/// without `Connection: keep-alive`, or any `close` token), with exactly `Connection: close`,
/// the one form Hummingbird closes the connection after: an HTTP/1.0 probe that reads until
/// the server closes would otherwise wait for the idle timeout, holding one of the connections
/// the side allows meanwhile (RFC 9112 §9.3).
final class CloseAfterResponseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), !head.isKeepAlive, head.headers["connection"] != ["close"] else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}

/// Gives a request with an absolute-form target (`GET http://HOST/path HTTP/1.1`, as sent to
/// a proxy) that target's authority as its one `Host`: RFC 9112 §3.2.2 has a server ignore the
/// `Host` fields of such a request and use the target's host instead. Without it the request
/// would be checked by a `Host` while it named another host.
final class AbsoluteFormHostHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A request without `Host` keeps none: it is refused as such (RFC 9112 §3.2: an
        // HTTP/1.1 request must have one, absolute-form or not).
        guard case .head(var head) = unwrapInboundIn(data), let authority = Self.authority(ofAbsoluteForm: head.uri),
            head.headers.contains(name: "Host")
        else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "Host", value: authority)
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    /// The authority of `target` when it is absolute-form, `scheme://authority[/path][?query]`
    /// (maybe empty, or holding a user part, which the `Host` check then refuses); nil for any
    /// other form (`/path`, `*`).
    static func authority(ofAbsoluteForm target: String) -> String? {
        guard let colon = target.firstIndex(of: ":") else { return nil }
        let scheme = target[..<colon]
        guard let first = scheme.first, first.isASCII, first.isLetter,
            scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
        else { return nil }
        let rest = target[target.index(after: colon)...]
        guard rest.hasPrefix("//") else { return nil }
        return String(rest.dropFirst(2).prefix { $0 != "/" && $0 != "?" && $0 != "#" })
    }
}

/// The `Date` of a response, as RFC 9110 §5.6.7 writes it: `Sun, 06 Nov 1994 08:49:37 GMT`.
enum HTTPDate {
    /// Now.
    static var now: String { text(time(nil)) }

    /// The time `seconds` after the epoch.
    static func text(_ seconds: time_t) -> String {
        var seconds = seconds
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}

/// The port the server bound, or why it could not; set once.
private final class BoundPort: Sendable {
    let result = Mutex<Result<Int, MonitoringError>?>(nil)
}

// MServeServant owns the library for writing a servant: a registry of named functions
// (the only things a client can run: secure invocation), worker threads that run them,
// and the `Servant` service that binds an OS-chosen port and answers a broker.

public import MServeQuery
import MServeServantPluginKit
public import QData

/// What a servant function returns: a result, and optionally its own info dictionary.
public struct ServantResult: Sendable {
    /// The result sent to the client.
    public var result: QValue
    /// A symbol-keyed dictionary the broker merges into the reply's info dictionary.
    public var info: QValue?

    /// Creates a result with an optional info dictionary.
    public init(_ result: QValue, info: QValue? = nil) {
        self.result = result
        self.info = info
    }
}

/// A servant function: literal q arguments in, a result out. Runs on a worker thread.
public typealias ServantFunction = @Sendable ([QValue]) throws -> ServantResult

/// The functions a servant serves, by name. Nothing else can be called.
public struct FunctionRegistry: Sendable {
    struct Entry: Sendable {
        var arity: ClosedRange<Int>?
        var body: ServantFunction
        /// For a plugin's function: the plugin and the function's index in its table, called
        /// on IPC bytes by ``reply(to:maximumSize:maximumReplySize:logger:)``.
        var plugin: PluginFunction? = nil
    }

    /// A plugin's function, called through the C ABI on IPC bytes.
    struct PluginFunction: Sendable {
        var plugin: LoadedServantPlugin
        var index: Int
    }

    private var entries: [String: Entry] = [:]
    /// Registrations no client could use: a name secure invocation refuses or the broker
    /// answers itself, a name registered twice (``checkCallable()``).
    private var problems: [String] = []
    /// The allowlist ``restricted(to:)`` applied: a function it left out is refused as not
    /// allowed, one never registered as no such function.
    private var allowlist: FunctionAllowlist = .any

    /// Creates an empty registry.
    public init() {}

    /// Registers `name`. `arity`, when given, is checked before the call.
    ///
    /// A `ServantError` the body throws reaches the client as its text, unchanged; any other
    /// error as `NAME: DESCRIPTION` (``ServantError/init(function:failure:)``).
    ///
    /// A trailing closure whose result type Swift cannot tell from its body (one that only
    /// throws, say) also fits ``register(_:arity:withInfo:)``; this overload is preferred then,
    /// so `register("boom") { _ in throw ServantError("boom: never") }` registers a function
    /// that returns a `QValue`.
    public mutating func register(
        _ name: String, arity: ClosedRange<Int>? = nil,
        _ body: @escaping @Sendable ([QValue]) throws -> QValue
    ) {
        notice(name)
        entries[name] = Entry(arity: arity) { ServantResult(try body($0)) }
    }

    /// Registers `name` with a body that also returns an info dictionary. Errors it throws
    /// reach the client as those of ``register(_:arity:_:)``'s body do.
    ///
    /// Disfavoured: a trailing closure that fits both overloads (its body only throws) goes to
    /// ``register(_:arity:_:)``; one that returns a `ServantResult` comes here.
    @_disfavoredOverload
    public mutating func register(
        _ name: String, arity: ClosedRange<Int>? = nil, withInfo body: @escaping ServantFunction
    ) {
        notice(name)
        entries[name] = Entry(arity: arity, body: body)
    }

    /// Notes a registration of `name` no client could use, for ``checkCallable()``.
    private mutating func notice(_ name: String) {
        if let reason = ServantPluginLoader.callableNameRefusal(name) {
            problems.append("\(name): \(reason)")
        } else if entries[name] != nil {
            problems.append("\(name) is registered twice")
        }
    }

    /// Throws when a function was registered that no client could call (a name secure
    /// invocation refuses: a q built-in, a reserved namespace, not a q name; or one in the
    /// broker's namespace `.mserve`, which brokers answer themselves), or a name was
    /// registered twice (the second replaced the first). A `Servant` checks this when it is
    /// made, as the plugin loader checks a plugin's functions.
    public func checkCallable() throws(ServantError) {
        guard problems.isEmpty else {
            throw ServantError("functions no client could call: " + problems.joined(separator: "; "))
        }
    }

    /// The registry with only the functions `allowlist` allows: the others are refused
    /// (`not in the list of allowed functions`), as a function never registered is (`is not a
    /// function this servant serves`).
    public func restricted(to allowlist: FunctionAllowlist) -> FunctionRegistry {
        guard !allowlist.allowsAnyFunction else { return self }
        var restricted = self
        restricted.entries = entries.filter { allowlist.allows($0.key) }
        restricted.allowlist = allowlist
        return restricted
    }

    /// The registered names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// Whether `name` is registered.
    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// Marks `name`, registered already, as the function at `index` of `plugin`, so that
    /// replies call it on IPC bytes.
    mutating func servePluginBytes(_ name: String, plugin: LoadedServantPlugin, index: Int) {
        entries[name]?.plugin = PluginFunction(plugin: plugin, index: index)
    }

    /// Runs a parsed query: only a registered function, only with its literal arguments.
    public func call(_ query: ParsedQuery) throws -> ServantResult {
        guard let entry = entries[query.function] else { throw notServed(query.function) }
        try checkArity(of: entry, function: query.function, count: query.arguments.count)
        return try run(entry, function: query.function, arguments: query.arguments)
    }

    /// The entry registered as `function`, or the error for a function this registry does not hold.
    func entry(_ function: String) throws(ServantError) -> Entry {
        guard let entry = entries[function] else { throw notServed(function) }
        return entry
    }

    /// Throws the `rank` error when `count` arguments are outside `entry`'s arity.
    func checkArity(of entry: Entry, function: String, count: Int) throws(ServantError) {
        guard let arity = entry.arity, !arity.contains(count) else { return }
        let expected =
            arity.upperBound == Int.max
            ? "at least \(arity.lowerBound)"
            : arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "\(arity.lowerBound)-\(arity.upperBound)"
        throw ServantError("\(function): rank: expected \(expected) argument(s), got \(count)")
    }

    /// Runs `entry`'s body on q values: a `ServantError` it throws as it is, another error as
    /// ``ServantError/init(function:failure:)``. A result no client could read (a q error
    /// inside it, a value no q process can hold:
    /// ``MServeServantPluginKit/ServantPluginResult/unsendableReason(result:info:)``) fails the
    /// query with `NAME: ` and the reason.
    func run(_ entry: Entry, function: String, arguments: [QValue]) throws(ServantError) -> ServantResult {
        let outcome: ServantResult
        do {
            outcome = try entry.body(arguments)
        } catch let error as ServantError {
            throw error
        } catch {
            throw ServantError(function: function, failure: error)
        }
        if let reason = ServantPluginResult.unsendableReason(result: outcome.result, info: outcome.info) {
            throw ServantError("\(function): \(reason)")
        }
        return outcome
    }

    /// The allowlist ``restricted(to:)`` applied (``FunctionAllowlist/any`` when none was).
    var appliedAllowlist: FunctionAllowlist { allowlist }

    /// The error for a function this registry does not hold, naming (the first 20 of) those
    /// it does.
    private func notServed(_ function: String) -> ServantError {
        let served = names
        let list = served.prefix(20).joined(separator: " ") + (served.count > 20 ? " ... (\(served.count) in all)" : "")
        return ServantError("`\(function)` is not a function this servant serves; it serves: \(served.isEmpty ? "none" : list)")
    }

    /// Parses, checks and runs a query given as the q value a client sent (a string or
    /// a parse form). Any failure becomes a `ServantError` with a clear text.
    public func call(query: QValue) throws -> ServantResult {
        let parsed: ParsedQuery
        do {
            parsed = try QueryParser.parse(query)
            try SecureInvocation.validate(parsed, allowlist: allowlist)
        } catch {
            throw ServantError("\(error)")
        }
        guard entries[parsed.function] != nil else { throw notServed(parsed.function) }
        return try call(parsed)
    }
}

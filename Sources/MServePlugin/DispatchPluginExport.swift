import CMServePlugin
import Glibc

/// The C signature of a plugin's `create` function.
///
/// A Swift plugin passes a closure literal that names its algorithm type, e.g.
/// `{ DispatchPluginExport<MatchAlgorithm>.create(config: $0) }`: C function pointers cannot
/// capture a generic parameter, so this one line is the only per-plugin shim.
public typealias DispatchPluginCreateFunction = @convention(c) (UnsafePointer<CChar>?) -> UnsafeMutableRawPointer?

/// A plugin table (`mserve_dispatch_plugin`) with static storage, as the entry symbol returns it.
public struct DispatchPluginTable: @unchecked Sendable {
    /// The address of the `mserve_dispatch_plugin` table; valid for the life of the process.
    public let pointer: UnsafeRawPointer
}

/// Exports a `SwiftDispatchAlgorithm` as a C dispatch plugin.
///
/// A Swift plugin file is the algorithm class plus:
/// ```swift
/// private let exported = DispatchPluginExport<MatchAlgorithm>.table(
///     name: "match", description: "…",
///     create: { DispatchPluginExport<MatchAlgorithm>.create(config: $0) })
///
/// @_cdecl("mserve_dispatch_plugin_entry")
/// public func mserveDispatchPluginEntry() -> UnsafeRawPointer { exported.pointer }
/// ```
/// The table's `route` is set when `Algorithm` conforms to `SwiftRoutingHook`, NULL otherwise.
public enum DispatchPluginExport<Algorithm: SwiftDispatchAlgorithm> {
    /// Builds the plugin table; call it once (from a global) and return its pointer from the entry symbol.
    public static func table(
        name: String,
        description: String,
        create: DispatchPluginCreateFunction
    ) -> DispatchPluginTable {
        let table = UnsafeMutablePointer<mserve_dispatch_plugin>.allocate(capacity: 1)
        table.initialize(
            to: mserve_dispatch_plugin(
                abi_version: MSERVE_PLUGIN_ABI_VERSION,
                name: UnsafePointer(strdup(name)),
                description: UnsafePointer(strdup(description)),
                create: create,
                choose: exportedChoose,
                completed: exportedCompleted,
                destroy: exportedDestroy,
                route: Algorithm.self is any SwiftRoutingHook.Type ? exportedRoute : nil
            )
        )
        return DispatchPluginTable(pointer: UnsafeRawPointer(table))
    }

    /// The body of the plugin's `create`: makes the algorithm from `config`, or returns NULL when it refuses.
    public static func create(config: UnsafePointer<CChar>?) -> UnsafeMutableRawPointer? {
        let text = config.map { String(cString: $0) } ?? ""
        guard let algorithm = Algorithm(config: text) else { return nil }
        return Unmanaged.passRetained(ExportedAlgorithm(algorithm)).toOpaque()
    }
}

/// The state behind a `void *` handed to the broker: the algorithm, typed as an existential so
/// the C trampolines need no generic parameter.
private final class ExportedAlgorithm {
    let algorithm: any SwiftDispatchAlgorithm
    var servants: [ServantView] = []

    init(_ algorithm: any SwiftDispatchAlgorithm) { self.algorithm = algorithm }

    static func from(_ state: UnsafeMutableRawPointer?) -> ExportedAlgorithm {
        Unmanaged<ExportedAlgorithm>.fromOpaque(state!).takeUnretainedValue()
    }
}

private func servantView(_ view: mserve_servant_view) -> ServantView {
    ServantView(
        id: view.id,
        name: view.name.map { String(cString: $0) } ?? "",
        host: view.host.map { String(cString: $0) } ?? "",
        inFlight: Int(view.in_flight),
        capacity: Int(view.capacity),
        lastRouting: view.last_routing.map { String(cString: $0) } ?? "",
        queriesServed: view.queries_served,
        meanExecutionNanoseconds: view.mean_execution_ns
    )
}

private let exportedChoose:
    @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UnsafePointer<mserve_servant_view>?, Int) -> Int64 = {
        state, routing, views, count in
        let exported = ExportedAlgorithm.from(state)
        exported.servants.removeAll(keepingCapacity: true)
        if let views {
            for index in 0..<count { exported.servants.append(servantView(views[index])) }
        }
        let routing = routing.map { String(cString: $0) } ?? ""
        guard let index = exported.algorithm.choose(routing: routing, servants: exported.servants) else {
            return Int64(MSERVE_DISPATCH_WAIT)
        }
        return Int64(index)
    }

private let exportedCompleted:
    @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<mserve_servant_view>?, UnsafePointer<CChar>?, UInt64) -> Void = {
        state, view, routing, executionNanoseconds in
        guard let view else { return }
        ExportedAlgorithm.from(state).algorithm.completed(
            servant: servantView(view.pointee),
            routing: routing.map { String(cString: $0) } ?? "",
            executionNanoseconds: executionNanoseconds
        )
    }

private let exportedDestroy: @convention(c) (UnsafeMutableRawPointer?) -> Void = { state in
    guard let state else { return }
    Unmanaged<ExportedAlgorithm>.fromOpaque(state).release()
}

private let exportedRoute:
    @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<mserve_query_view>?, UnsafeMutablePointer<CChar>?, Int) -> Int64 = {
        state, query, output, outputCapacity in
        guard let query, let hook = ExportedAlgorithm.from(state).algorithm as? any SwiftRoutingHook else { return -1 }
        let view = query.pointee
        var arguments: [[UInt8]] = []
        arguments.reserveCapacity(view.argument_count)
        for index in 0..<view.argument_count {
            let length = view.argument_lengths[index]
            if let bytes = view.arguments[index] {
                arguments.append(Array(UnsafeBufferPointer(start: bytes, count: length)))
            } else {
                arguments.append([])
            }
        }
        let result = hook.route(
            function: view.function.map { String(cString: $0) } ?? "",
            argumentMessages: arguments,
            defaultRouting: view.default_routing.map { String(cString: $0) } ?? ""
        )
        guard case .routing(let routing) = result else { return -1 }
        let bytes = Array(routing.utf8)
        // snprintf style: copy what fits, NUL-terminate, return the full length.
        if let output, outputCapacity > 0 {
            let copied = min(bytes.count, outputCapacity - 1)
            for index in 0..<copied { output[index] = CChar(bitPattern: bytes[index]) }
            output[copied] = 0
        }
        return Int64(bytes.count)
    }

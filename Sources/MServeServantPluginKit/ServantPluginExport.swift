import CMServeServantPlugin
import Glibc
import QData

/// The C signature of a plugin's `call` function, with the result as a raw pointer to a
/// `mserve_servant_result`.
///
/// A Swift plugin passes a closure literal naming its API type,
/// `{ ServantPluginExport<DemoAPI>.call($0, $1, $2, $3) }`: C function pointers cannot capture
/// a generic parameter, so this one line is the only per-plugin shim.
public typealias ServantPluginCallFunction =
    @convention(c) (Int, UnsafePointer<UInt8>?, Int, UnsafeMutableRawPointer?) -> Int32

/// A plugin table (`mserve_servant_plugin`) with static storage, as the entry symbol returns it.
public struct ServantPluginTable: @unchecked Sendable {
    /// The address of the `mserve_servant_plugin` table; valid for the life of the process.
    public let pointer: UnsafeRawPointer
}

/// Exports a `ServantPluginAPI` as a C servant plugin.
///
/// A Swift plugin is its API type plus:
/// ```swift
/// private let exported = ServantPluginExport<DemoAPI>.table(
///     name: "demo-api", description: "…",
///     call: { ServantPluginExport<DemoAPI>.call($0, $1, $2, $3) })
///
/// @_cdecl("mserve_servant_plugin_entry")
/// public func mserveServantPluginEntry() -> UnsafeRawPointer { exported.pointer }
/// ```
public enum ServantPluginExport<API: ServantPluginAPI> {
    /// Builds the plugin table; call it once (from a global) and return its pointer from the entry symbol.
    public static func table(name: String, description: String, call: ServantPluginCallFunction) -> ServantPluginTable {
        let functions = API.functions
        let array = UnsafeMutablePointer<mserve_servant_function>.allocate(capacity: max(1, functions.count))
        for (index, function) in functions.enumerated() {
            let maximum =
                function.arity.upperBound >= Int(UInt32.max)
                ? UInt32.max : UInt32(clamping: function.arity.upperBound)
            (array + index).initialize(
                to: mserve_servant_function(
                    name: UnsafePointer(strdup(function.name)),
                    min_arity: UInt32(clamping: function.arity.lowerBound),
                    max_arity: maximum))
        }
        let table = UnsafeMutablePointer<mserve_servant_plugin>.allocate(capacity: 1)
        table.initialize(
            to: mserve_servant_plugin(
                abi_version: MSERVE_SERVANT_PLUGIN_ABI_VERSION,
                name: UnsafePointer(strdup(name)),
                description: UnsafePointer(strdup(description)),
                function_count: functions.count,
                functions: UnsafePointer(array),
                call: unsafeBitCast(
                    call,
                    to: (@convention(c) (Int, UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<mserve_servant_result>?)
                        -> Int32).self),
                free_result: exportedFreeResult))
        return ServantPluginTable(pointer: UnsafeRawPointer(table))
    }

    /// The body of the plugin's `call`: decodes the arguments, runs `API.functions[index]`,
    /// and stores the encoded result or the error text in `result` (malloc'd; see `free_result`).
    public static func call(
        _ index: Int, _ arguments: UnsafePointer<UInt8>?, _ length: Int, _ result: UnsafeMutableRawPointer?
    ) -> Int32 {
        guard let result else { return Int32(MSERVE_SERVANT_CALL_FAILED) }
        let out = result.assumingMemoryBound(to: mserve_servant_result.self)
        let functions = API.functions
        guard functions.indices.contains(index) else {
            out.pointee.error = strdup("no function at index \(index) in this plugin")
            return Int32(MSERVE_SERVANT_CALL_FAILED)
        }
        let function = functions[index]
        do {
            let bytes = arguments.map { Array(UnsafeBufferPointer(start: $0, count: length)) } ?? []
            let values: [QValue]
            switch try QIPC.decode(bytes).value {
            case .list(let items, _): values = items
            case let other: values = [other]
            }
            let outcome = try function.body(values)
            (out.pointee.result_ipc, out.pointee.result_len) = copyToMalloc(QIPC.encode(outcome.result))
            if let info = outcome.info {
                (out.pointee.info_ipc, out.pointee.info_len) = copyToMalloc(QIPC.encode(info))
            }
            return Int32(MSERVE_SERVANT_CALL_OK)
        } catch {
            out.pointee.error = strdup(ServantPluginFunction.errorText(error, function: function.name))
            return Int32(MSERVE_SERVANT_CALL_FAILED)
        }
    }
}

private func copyToMalloc(_ bytes: [UInt8]) -> (UnsafeMutablePointer<UInt8>?, Int) {
    guard let memory = malloc(max(1, bytes.count)) else { return (nil, 0) }
    let pointer = memory.assumingMemoryBound(to: UInt8.self)
    bytes.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: bytes.count) }
    return (pointer, bytes.count)
}

private let exportedFreeResult: @convention(c) (UnsafeMutablePointer<mserve_servant_result>?) -> Void = { result in
    guard let result else { return }
    free(result.pointee.result_ipc)
    free(result.pointee.info_ipc)
    free(result.pointee.error)
    result.pointee.result_ipc = nil
    result.pointee.info_ipc = nil
    result.pointee.error = nil
}

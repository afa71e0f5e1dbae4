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
    /// A function made with ``ServantPluginFunction/identity(_:)`` has its argument's bytes
    /// copied to the result instead, undecoded.
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
            if function.returnsItsArgument, let arguments,
                let argument = onlyArgument(UnsafeBufferPointer(start: arguments, count: length))
            {
                (out.pointee.result_ipc, out.pointee.result_len) = copyToMalloc(message: argument)
                return Int32(MSERVE_SERVANT_CALL_OK)
            }
            // The decoded arguments and the result's value live only inside `run`: what is
            // copied to the plugin's memory next is the encoding alone.
            let encoded = try run(function, arguments: arguments, length: length)
            (out.pointee.result_ipc, out.pointee.result_len) = copyToMalloc(encoded.result)
            if let info = encoded.info {
                (out.pointee.info_ipc, out.pointee.info_len) = copyToMalloc(info)
            }
            return Int32(MSERVE_SERVANT_CALL_OK)
        } catch {
            out.pointee.error = strdup(ServantPluginFunction.errorText(error, function: function.name))
            return Int32(MSERVE_SERVANT_CALL_FAILED)
        }
    }

    /// Runs `function` on the decoded arguments; returns its result and info encoded.
    private static func run(
        _ function: ServantPluginFunction, arguments: UnsafePointer<UInt8>?, length: Int
    ) throws -> (result: [UInt8], info: [UInt8]?) {
        let outcome = try function.body(decodeArguments(arguments, length: length))
        if let reason = ServantPluginResult.unsendableReason(result: outcome.result, info: outcome.info) {
            throw ServantPluginFailure("\(function.name): \(reason)")
        }
        return (QIPC.encode(outcome.result), outcome.info.map { QIPC.encode($0) })
    }

    /// The arguments message decoded: its items (a message that is no general list is one
    /// argument). The copy it is decoded from goes when this returns.
    private static func decodeArguments(_ arguments: UnsafePointer<UInt8>?, length: Int) throws -> [QValue] {
        let bytes = arguments.map { Array(UnsafeBufferPointer(start: $0, count: length)) } ?? []
        switch try QIPC.decode(bytes).value {
        case .list(let items, _): return items
        case let other: return [other]
        }
    }

    /// The bytes of the one argument in the arguments message `message` (plain,
    /// little-endian, a general list of exactly one well-formed value), or nil when it is not
    /// such a message: the function is then run on the decoded arguments, which reports what
    /// is wrong.
    private static func onlyArgument(_ message: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8>? {
        let span = message.span
        guard span.count > 14, span[0] == 1, span[2] == 0, span[8] == 0,
            (try? QIPCInPlace.count(in: span, at: 10, minimumElementSize: 1)) == 1,
            (try? QIPCInPlace.header(of: span)) != nil,
            (try? QIPCInPlace.checkValue(in: span, at: 14, depth: 1)) == span.count
        else { return nil }
        return UnsafeBufferPointer(rebasing: message[14...])
    }
}

/// A result message in memory of its own: the 8-byte header (little-endian, async,
/// uncompressed, the length) then the serialized value `payload`.
private func copyToMalloc(message payload: UnsafeBufferPointer<UInt8>) -> (UnsafeMutablePointer<UInt8>?, Int) {
    let count = 8 + payload.count
    guard count <= Int(UInt32.max), let memory = malloc(count) else { return (nil, 0) }
    let pointer = memory.assumingMemoryBound(to: UInt8.self)
    let length = UInt32(count)
    let header: [UInt8] = [1, 0, 0, 0] + (0..<4).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }
    pointer.update(from: header, count: 8)
    if let base = payload.baseAddress { (pointer + 8).update(from: base, count: payload.count) }
    return (pointer, count)
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

import CMServeServantPlugin
import Foundation
import Glibc
import MServeProtocol
import MServeQuery
import POSIXFiles
public import QData

/// One function a loaded servant plugin serves, as its table lists it.
public struct ServantPluginFunctionDescription: Sendable, Hashable {
    /// The name clients call.
    public var name: String
    /// The argument counts accepted; the upper bound is `Int.max` for "any number".
    public var arity: ClosedRange<Int>

    /// Creates a description.
    public init(name: String, arity: ClosedRange<Int>) {
        self.name = name
        self.arity = arity
    }

    /// "1", "0-1" or "2+".
    public var arityText: String {
        if arity.upperBound == Int.max { return "\(arity.lowerBound)+" }
        return arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "\(arity.lowerBound)-\(arity.upperBound)"
    }
}

/// A servant plugin loaded with `dlopen`: its name, file and functions, and the calls into it.
///
/// The `dlopen` handle is kept for the life of the process (plugins are never unloaded), so
/// the table stays valid; the plugin promises its `call` is thread-safe, so this is `Sendable`.
public final class LoadedServantPlugin: @unchecked Sendable {
    /// The plugin's name, from its table.
    public let name: String
    /// The one-line description the plugin gives of itself.
    public let description: String
    /// The resolved path of the plugin file.
    public let path: String
    /// The functions it serves, in table order.
    public let functions: [ServantPluginFunctionDescription]
    private let table: UnsafePointer<mserve_servant_plugin>

    init(
        name: String, description: String, path: String, functions: [ServantPluginFunctionDescription],
        table: UnsafePointer<mserve_servant_plugin>
    ) {
        self.name = name
        self.description = description
        self.path = path
        self.functions = functions
        self.table = table
    }

    /// Calls the function at `index` with `arguments` through the C ABI. A failure, an error
    /// text, or result bytes that do not decode become a `ServantError` naming the function.
    /// An error text is read up to its NUL, at most `errorTextLimit` bytes (the largest IPC
    /// message by default).
    public func call(
        functionAt index: Int, arguments: [QValue], errorTextLimit: Int = LoadedServantPlugin.largestErrorText
    ) throws(ServantError) -> ServantResult {
        let message = QIPC.encode(.list(arguments))
        let count = message.count
        return try call(functionAt: index, arguments: message, range: 0..<count, errorTextLimit: errorTextLimit) {
            (result: Span<UInt8>, info: QValue?) throws(ServantError) -> ServantResult in
            let value: QValue
            do throws(QIPCError) {
                value = try QIPCInPlace.decodeValue(in: result, range: 0..<result.count, depth: 0)
            } catch {
                throw malformedBytes(functionAt: index, "result (result_ipc)", error)
            }
            return ServantResult(value, info: info)
        }
    }

    /// The most bytes of a plugin's error text read when no limit is given: the largest IPC
    /// message (its header holds the length in 32 bits).
    public static let largestErrorText = Int(UInt32.max)

    /// Calls the function at `index` on the arguments message `arguments[range]` (one IPC
    /// message holding the general list of the arguments, as the ABI passes them), then hands
    /// `body` what it returned while the plugin still holds it: the result's serialized form
    /// (its bytes after the message header, checked as decoding checks them; a compressed or
    /// big-endian result decoded and written again plain and little-endian) and the info
    /// dictionary, decoded. The plugin's `free_result` runs once `body` returns or throws.
    ///
    /// `arguments` is taken, not borrowed: it is let go as soon as the plugin returns, before
    /// `body` copies the result anywhere, so that a large query's bytes (the arguments are a
    /// slice of them) and its result are not held at once longer than the call.
    ///
    /// A failure, an error text, or result bytes that do not decode become a `ServantError`
    /// naming the function, as for ``call(functionAt:arguments:errorTextLimit:)``; errors `body`
    /// throws pass through as they are. The ABI gives the error text no length: it is read up
    /// to its NUL, at most `errorTextLimit` bytes (the reply size limit: a longer text could not
    /// be sent), and one with no NUL within them fails the call with an error saying so.
    func call<Output>(
        functionAt index: Int, arguments: consuming [UInt8], range: Range<Int>, errorTextLimit: Int,
        _ body: (_ result: Span<UInt8>, _ info: QValue?) throws(ServantError) -> Output
    ) throws(ServantError) -> Output {
        let functionName = functions[index].name
        precondition(range.lowerBound >= 0 && range.upperBound <= arguments.count, "the arguments lie outside their buffer")
        var out = mserve_servant_result()
        let plugin = table.pointee
        // The arguments' addresses, to tell a result that points into them (freed below).
        var argumentAddresses: Range<UInt> = 0..<0
        let status = arguments.withUnsafeBufferPointer { buffer in
            if let base = buffer.baseAddress {
                argumentAddresses = UInt(bitPattern: base)..<UInt(bitPattern: base + buffer.count)
            }
            return plugin.call(index, buffer.baseAddress.map { $0 + range.lowerBound }, range.count, &out)
        }
        defer { plugin.free_result(&out) }
        _ = consume arguments
        // `args_ipc` is the servant's, valid only during the call: a result, info or error
        // text pointing into it (returning the arguments as they came is the obvious echo in
        // C) would be read after they are freed.
        func pointsIntoArguments(_ pointer: UnsafeRawPointer?) -> Bool {
            pointer.map { argumentAddresses.contains(UInt(bitPattern: $0)) } ?? false
        }
        guard !pointsIntoArguments(out.result_ipc), !pointsIntoArguments(out.info_ipc), !pointsIntoArguments(out.error) else {
            throw ServantError(
                "\(functionName): plugin \(name) returned memory of its arguments (args_ipc is the servant's, valid only during the call); return a copy")
        }
        guard status == MSERVE_SERVANT_CALL_OK else {
            guard let error = out.error else { throw ServantError("\(functionName): failed in plugin \(name)") }
            // Never past the limit, looking for a NUL the plugin may have left out.
            let length = strnlen(error, max(0, errorTextLimit))
            guard length < errorTextLimit else {
                throw ServantError(
                    "\(functionName): plugin \(name) returned an error text with no NUL in its first \(errorTextLimit) bytes (the reply size limit); error must be a NUL-terminated string")
            }
            guard length > 0 else { throw ServantError("\(functionName): failed in plugin \(name)") }
            let text = UnsafeRawBufferPointer(start: error, count: length)
            throw ServantError(String(decoding: text, as: UTF8.self))
        }
        guard let resultBytes = out.result_ipc, out.result_len > 0 else {
            throw ServantError("\(functionName): plugin \(name) returned no result")
        }
        let result = UnsafeBufferPointer(start: UnsafePointer(resultBytes), count: out.result_len)
        let rewritten: [UInt8]?
        do throws(QIPCError) {
            rewritten = try Self.checkResult(result.span)
        } catch {
            throw malformedBytes(functionAt: index, "result (result_ipc)", error)
        }
        let info: QValue?
        do throws(QIPCError) {
            if let infoBytes = out.info_ipc, out.info_len > 0 {
                info = try QIPC.decode(Array(UnsafeBufferPointer(start: infoBytes, count: out.info_len))).value
            } else {
                info = nil
            }
        } catch {
            throw malformedBytes(functionAt: index, "info dictionary (info_ipc)", error)
        }
        if let rewritten {
            try checkSendable(result: rewritten.span, info: info, functionAt: index)
            return try body(rewritten.span, info)
        }
        let payload = result.span.extracting(8..<result.count)
        try checkSendable(result: payload, info: info, functionAt: index)
        return try body(payload, info)
    }

    /// Throws when a client could not read a reply carrying the result whose serialized form
    /// (checked already) is `result`, and `info`: a q error inside the result (a top-level one
    /// is a failure, and fine) or in the info would travel inside the reply list, where no
    /// kdb+ client reads one (docs/PROTOCOL.md).
    private func checkSendable(result: Span<UInt8>, info: QValue?, functionAt index: Int) throws(ServantError) {
        let functionName = functions[index].name
        let holdsErrorInside: Bool
        do throws(QIPCError) {
            if try QIPCInPlace.type(in: result, at: 0) == -128 {
                holdsErrorInside = false
            } else {
                holdsErrorInside = try QIPCInPlace.holdsError(in: result, at: 0)
            }
        } catch {
            throw malformedBytes(functionAt: index, "result (result_ipc)", error)
        }
        if holdsErrorInside {
            throw ServantError(
                "\(functionName): plugin \(name) returned a result holding a q error inside a list; return the error itself (or fail the call) to fail the query")
        }
        if info?.holdsError == true {
            throw ServantError(
                "\(functionName): plugin \(name) returned an info dictionary holding a q error; no client reads one inside the reply")
        }
    }

    /// Checks the result message `bytes` as decoding it would (the same errors). Returns nil
    /// when it is plain and little-endian (its payload can be used as it is), else its value
    /// decoded and serialized again, plain and little-endian (the payload only).
    private static func checkResult(_ bytes: Span<UInt8>) throws(QIPCError) -> [UInt8]? {
        let header = try QIPCInPlace.header(of: bytes)
        guard !header.compressed, header.littleEndian else {
            let value = try QIPC.decode(QIPCInPlace.copy(of: bytes, range: 0..<bytes.count)).value
            var payload: [UInt8] = []
            QIPC.encodePayload(value, into: &payload)
            return payload
        }
        let end = try QIPCInPlace.checkValue(in: bytes, at: 8, depth: 0)
        guard end == bytes.count else {
            throw QIPCError(.trailingBytes, "\(bytes.count - end) bytes after the value at offset \(end)")
        }
        return nil
    }

    /// The error of a call whose `what` (its result, its info dictionary) is not a valid kdb+
    /// IPC message.
    private func malformedBytes(functionAt index: Int, _ what: String, _ error: QIPCError) -> ServantError {
        ServantError("\(functions[index].name): plugin \(name) returned a malformed \(what): \(error.message)")
    }
}

/// Loads servant plugins (`MSERVE_SERVANT_PLUGINS`, `Q_PLUGINS`, `--plugins`) at launch.
public enum ServantPluginLoader {
    /// The file name of the demo API plugin, served when no plugin is configured.
    public static let demoPluginFileName = "libmserve-servant-demo-api.so"

    /// Splits a `path[:path…]` list; empty entries are ignored.
    public static func paths(fromList list: String) -> [String] {
        list.split(separator: ":", omittingEmptySubsequences: true).map(String.init)
    }

    /// The demo API plugin next to the running binary (symbolic links resolved).
    public static func defaultPaths(executablePath: String = CommandLine.arguments[0]) -> [String] {
        let binary: String?
        if executablePath.contains("/"), let resolved = POSIXFile.resolvedPath(executablePath) {
            binary = resolved
        } else {
            binary = POSIXFile.resolvedPath("/proc/self/exe")
        }
        guard let binary else { return [] }
        return [(binary as NSString).deletingLastPathComponent + "/" + demoPluginFileName]
    }

    /// Loads every file in `paths`, in order. A file reached twice is loaded once. Any
    /// problem — a missing file, `dlopen` failing, no entry symbol, another ABI version, a
    /// malformed table, two plugins serving one name — throws an error naming the file.
    public static func load(paths: [String]) throws(ServantPluginError) -> [LoadedServantPlugin] {
        var loaded: [LoadedServantPlugin] = []
        var seenFiles: Set<FileIdentity> = []
        var owners: [String: String] = [:]
        for candidate in paths where !candidate.isEmpty {
            guard FileManager.default.fileExists(atPath: candidate) else {
                throw ServantPluginError(.fileNotFound, "\(candidate): no such servant plugin file")
            }
            let path = POSIXFile.resolvedPath(candidate) ?? candidate
            if let refusal = POSIXFile.linkRefusal(given: candidate, resolved: path, what: "servant plugin file") {
                throw ServantPluginError(.controlledByOthers, refusal)
            }
            // One file, by whatever name (a symbolic or hard link): dlopen gives it once too.
            if let identity = POSIXFile.identity(atPath: path), !seenFiles.insert(identity).inserted { continue }
            let plugin = try load(path: path)
            for function in plugin.functions {
                if let owner = owners[function.name] {
                    throw ServantPluginError(
                        .duplicateFunction,
                        "\(path): function \"\(function.name)\" is already served by \(owner)")
                }
                owners[function.name] = path
            }
            loaded.append(plugin)
        }
        return loaded
    }

    private static func load(path: String) throws(ServantPluginError) -> LoadedServantPlugin {
        let library: SharedLibrary
        do {
            library = try SharedLibrary(path: path, kind: "servant plugin", entrySymbol: MSERVE_SERVANT_PLUGIN_ENTRY_SYMBOL)
        } catch {
            throw ServantPluginError(.init(error.reason.rawValue), error.message)
        }
        let entry = unsafeBitCast(library.entryPoint, to: mserve_servant_plugin_entry_fn.self)
        guard let table = entry() else {
            throw ServantPluginError(.invalidTable, "\(path): \(MSERVE_SERVANT_PLUGIN_ENTRY_SYMBOL) returned NULL")
        }
        let plugin = try validate(table: table, path: path)
        library.keep()
        return plugin
    }

    /// A plugin from a table already in this process (what an entry symbol returns, e.g.
    /// `ServantPluginExport.table(…).pointer`), checked like a loaded file; `origin` stands in
    /// for the path in messages. Lets a Swift plugin be tested through the C ABI without `dlopen`.
    /// The table must stay valid for the life of the process.
    public static func plugin(table: UnsafeRawPointer, origin: String) throws(ServantPluginError) -> LoadedServantPlugin {
        try validate(table: table.assumingMemoryBound(to: mserve_servant_plugin.self), path: origin)
    }

    private static func validate(
        table: UnsafePointer<mserve_servant_plugin>, path: String
    ) throws(ServantPluginError) -> LoadedServantPlugin {
        // Only abi_version may be read before the version is known to match.
        let version = table.pointee.abi_version
        guard version == MSERVE_SERVANT_PLUGIN_ABI_VERSION else {
            throw ServantPluginError(
                .abiVersionMismatch,
                "\(path): servant plugin ABI version \(version), "
                    + "this servant speaks version \(MSERVE_SERVANT_PLUGIN_ABI_VERSION)"
            )
        }
        let plugin = table.pointee
        guard let namePointer = plugin.name, namePointer.pointee != 0 else {
            throw ServantPluginError(.invalidTable, "\(path): the plugin table has no name")
        }
        let name = String(cString: namePointer)
        guard plugin.call != nil, plugin.free_result != nil else {
            throw ServantPluginError(.invalidTable, "\(path): plugin \"\(name)\" lacks call or free_result")
        }
        guard plugin.function_count > 0, let array = plugin.functions else {
            throw ServantPluginError(.invalidTable, "\(path): plugin \"\(name)\" lists no functions")
        }
        var functions: [ServantPluginFunctionDescription] = []
        var names: Set<String> = []
        for index in 0..<plugin.function_count {
            let function = array[index]
            guard let functionName = function.name.map({ String(cString: $0) }), !functionName.isEmpty else {
                throw ServantPluginError(.invalidTable, "\(path): plugin \"\(name)\": function \(index) has no name")
            }
            if let reason = callableNameRefusal(functionName) {
                throw ServantPluginError(
                    .invalidTable,
                    "\(path): plugin \"\(name)\": function \"\(functionName)\" could never be called: \(reason)")
            }
            let maximum = function.max_arity == UInt32.max ? Int.max : Int(function.max_arity)
            guard Int(function.min_arity) <= maximum else {
                throw ServantPluginError(
                    .invalidTable,
                    "\(path): plugin \"\(name)\": function \"\(functionName)\" has min_arity above max_arity")
            }
            guard names.insert(functionName).inserted else {
                throw ServantPluginError(
                    .duplicateFunction, "\(path): plugin \"\(name)\" lists function \"\(functionName)\" twice")
            }
            functions.append(ServantPluginFunctionDescription(name: functionName, arity: Int(function.min_arity)...maximum))
        }
        return LoadedServantPlugin(
            name: name, description: plugin.description.map { String(cString: $0) } ?? "", path: path,
            functions: functions, table: table)
    }

    /// Why clients could never call `name` (not a q identifier, a q built-in, a reserved
    /// namespace: what secure invocation refuses; the broker's `.mserve` namespace; longer than
    /// ``ReadyLimits/longestName`` bytes, which no broker takes), or nil when they can.
    static func callableNameRefusal(_ name: String) -> String? {
        // A broker refuses a READY listing a longer one (docs/PROTOCOL.md).
        if name.utf8.count > ReadyLimits.longestName {
            return "its name is \(name.utf8.count) bytes long, and brokers take function names of at most \(ReadyLimits.longestName)"
        }
        // The broker answers its own namespace and never sends a query there to a servant.
        if name == ".mserve" || name.hasPrefix(".mserve.") {
            return "`\(name)` is in the broker's namespace `.mserve`, which brokers answer themselves"
        }
        do {
            try SecureInvocation.validate(ParsedQuery(function: name))
            return nil
        } catch {
            return error.message
        }
    }
}

extension FunctionRegistry {
    /// A registry serving exactly the functions the plugins list (names are unique across
    /// them: `ServantPluginLoader.load` checks it).
    public init(plugins: [LoadedServantPlugin]) {
        self.init()
        for plugin in plugins { register(plugin) }
    }

    /// Registers every function `plugin` serves, each calling into the plugin. A servant's
    /// ``reply(to:maximumSize:maximumReplySize:logger:)`` passes a large query's arguments to
    /// the plugin as the query's own bytes and puts the result's bytes into the reply, decoding
    /// neither; ``call(query:)`` and ``call(_:)`` go through q values.
    public mutating func register(_ plugin: LoadedServantPlugin) {
        for (index, function) in plugin.functions.enumerated() {
            register(function.name, arity: function.arity, withInfo: { arguments in
                try plugin.call(functionAt: index, arguments: arguments)
            })
            servePluginBytes(function.name, plugin: plugin, index: index)
        }
    }
}

import CMServePlugin
import Foundation
import Glibc
import POSIXFiles

/// One dispatch plugin found and loaded by `DispatchPluginRegistry`.
public struct LoadedDispatchPlugin: Sendable, Hashable {
    /// The algorithm name, as chosen with `MSERVE_ALGO`.
    public var name: String
    /// The one-line description the plugin gives of itself.
    public var description: String
    /// The resolved path of the plugin file.
    public var path: String
    /// Whether the plugin provides a routing hook (`MSERVE_ROUTING=plugin:NAME`).
    public var hasRoutingHook: Bool

    /// Creates a plugin description.
    public init(name: String, description: String, path: String, hasRoutingHook: Bool) {
        self.name = name
        self.description = description
        self.path = path
        self.hasRoutingHook = hasRoutingHook
    }
}

/// The dispatch plugins available to a broker, loaded once at launch with `dlopen`.
///
/// The registry keeps every `dlopen` handle for the life of the process (plugins are never
/// unloaded, so the tables and code they hand out stay valid). It is immutable after `init`.
public final class DispatchPluginRegistry: @unchecked Sendable {
    /// The file name prefix of a plugin found by a directory scan.
    public static let fileNamePrefix = "libmserve-algorithm-"
    /// The file name suffix of a plugin found by a directory scan.
    public static let fileNameSuffix = ".so"

    private struct Entry {
        var plugin: LoadedDispatchPlugin
        var table: UnsafePointer<mserve_dispatch_plugin>
    }

    private let entries: [Entry]

    /// The directories scanned for `libmserve-algorithm-*.so` files, as given (empty ones left
    /// out; none for a registry of in-process tables): where a plugin file is put to be found.
    public let directories: [String]

    /// Scans `directories` for `libmserve-algorithm-*.so` and loads `extraPaths` (MSERVE_PLUGINS); errors name the file.
    ///
    /// A directory that does not exist is skipped; a file in `extraPaths` that does not exist is an
    /// error. A file reached twice (by a scan and by a path, or through a symbolic link) is loaded
    /// once. Two files declaring the same algorithm name are an error.
    public init(directories: [String], extraPaths: [String]) throws(PluginError) {
        var candidates: [String] = []
        for directory in directories where !directory.isEmpty {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for name in names.sorted()
            where name.hasPrefix(Self.fileNamePrefix) && name.hasSuffix(Self.fileNameSuffix) {
                candidates.append(directory.hasSuffix("/") ? directory + name : directory + "/" + name)
            }
        }
        for path in extraPaths where !path.isEmpty {
            if path.hasSuffix(".q") {
                // The original q mserve's plugins are q scripts; these are shared libraries.
                throw PluginError(
                    .fileNotFound,
                    "\(path): a q script; a dispatch plugin is a shared library exporting \(MSERVE_DISPATCH_PLUGIN_ENTRY_SYMBOL) (docs/PLUGINS.md)")
            }
            guard FileManager.default.fileExists(atPath: path) else {
                let hint = path.contains(",") ? " (several plugin files are separated by ':', not ',')" : ""
                throw PluginError(.fileNotFound, "\(path): no such dispatch plugin file\(hint)")
            }
            candidates.append(path)
        }

        var loaded: [Entry] = []
        var seenFiles: Set<FileIdentity> = []
        for candidate in candidates {
            let path = POSIXFile.resolvedPath(candidate) ?? candidate
            if let refusal = POSIXFile.linkRefusal(given: candidate, resolved: path, what: "dispatch plugin file") {
                throw PluginError(.controlledByOthers, refusal)
            }
            // One file, by whatever name (a symbolic or hard link): dlopen gives it once too.
            if let identity = POSIXFile.identity(atPath: path), !seenFiles.insert(identity).inserted { continue }
            try Self.append(try Self.load(path: path), to: &loaded)
        }
        entries = loaded
        self.directories = directories.filter { !$0.isEmpty }
    }

    /// The plugins behind `tables`, exported in this process (`DispatchPluginExport.table`,
    /// `IndexedDispatchPluginExport.table`, as a plugin's entry symbol returns them) instead of
    /// loaded from files: each is checked as a loaded file's table is (ABI version, name,
    /// required functions; errors as those of ``init(directories:extraPaths:)``), and
    /// ``makeAlgorithm(_:onInvalidChoice:)`` calls its `create`, then the algorithm calls its
    /// functions through the C ABI. For tests of a Swift plugin without a shared library;
    /// `origin` stands for the file in ``plugins`` and in messages.
    public init(tables: [DispatchPluginTable], origin: String = "in-process") throws(PluginError) {
        var loaded: [Entry] = []
        for table in tables {
            let entry = try Self.entry(
                table: table.pointer.assumingMemoryBound(to: mserve_dispatch_plugin.self), path: origin)
            try Self.append(entry, to: &loaded)
        }
        entries = loaded
        directories = []
    }

    /// Adds `entry` to `loaded`, refusing a second plugin of the same name.
    private static func append(_ entry: Entry, to loaded: inout [Entry]) throws(PluginError) {
        if let other = loaded.first(where: { $0.plugin.name == entry.plugin.name }) {
            throw PluginError(
                .duplicateName,
                "\(entry.plugin.path): dispatch algorithm \"\(entry.plugin.name)\" is already provided by \(other.plugin.path)"
            )
        }
        loaded.append(entry)
    }

    /// The directory of the running mserve binary (resolve /proc/self/exe), so plugins built next to it are found without configuration.
    ///
    /// `executablePath` is resolved through symbolic links when it names a file; a bare command
    /// name (found through `PATH`) falls back to `/proc/self/exe`.
    public static func defaultDirectories(executablePath: String = CommandLine.arguments[0]) -> [String] {
        let binary: String?
        if executablePath.contains("/"), let resolved = POSIXFile.resolvedPath(executablePath) {
            binary = resolved
        } else {
            binary = POSIXFile.resolvedPath("/proc/self/exe")
        }
        guard let binary else { return [] }
        return [(binary as NSString).deletingLastPathComponent]
    }

    /// The loaded plugins, scanned directories first (in name order), then the extra paths.
    public var plugins: [LoadedDispatchPlugin] { entries.map(\.plugin) }

    /// "match", or "chbl:1.25" (name:config). Throws .unknownAlgorithm listing the names
    /// available (`unknown dispatch algorithm "NAME"; available: A, B`).
    ///
    /// Each call creates a new, independent algorithm state. `onInvalidChoice` receives a message
    /// when the plugin's `choose` returns an index that is out of range or names a busy servant
    /// (the broker then fails the query), or its routing hook claims a length past the limit (the
    /// query is then refused).
    public func makeAlgorithm(
        _ spec: String,
        onInvalidChoice: (@Sendable (String) -> Void)? = nil
    ) throws(PluginError) -> any DispatchAlgorithm {
        let name: String
        let config: String
        if let colon = spec.firstIndex(of: ":") {
            name = String(spec[..<colon])
            config = String(spec[spec.index(after: colon)...])
        } else {
            name = spec
            config = ""
        }
        guard let entry = entries.first(where: { $0.plugin.name == name }) else {
            let found = entries.isEmpty ? "none" : entries.map(\.plugin.name).joined(separator: ", ")
            throw PluginError(.unknownAlgorithm, "unknown dispatch algorithm \"\(name)\"; available: \(found)")
        }
        guard let create = entry.table.pointee.create,
            let state = config.withCString({ create($0) })
        else {
            throw PluginError(.createFailed, Self.refusedConfigurationMessage(entry.plugin, config: config))
        }
        return CDispatchAlgorithm(
            name: name,
            path: entry.plugin.path,
            table: entry.table,
            state: state,
            onInvalidChoice: onInvalidChoice
        )
    }

    /// Why `create` returned NULL is the plugin's own; what it takes is in its description
    /// (the shipped plugins state their configuration there), so the refusal quotes it.
    static func refusedConfigurationMessage(_ plugin: LoadedDispatchPlugin, config: String) -> String {
        let refusal = "\(plugin.path): dispatch algorithm \"\(plugin.name)\" refused the configuration \"\(config)\""
        guard !plugin.description.isEmpty else {
            return refusal + "; mserve broker --list-algorithms lists what each algorithm takes"
        }
        return refusal + "; its description: \(plugin.description). mserve broker --list-algorithms lists every "
            + "algorithm's, docs/PLUGINS.md \"Shipped plugins\" explains those shipped with mserve"
    }

    // MARK: Loading

    private static func load(path: String) throws(PluginError) -> Entry {
        let library: SharedLibrary
        do {
            library = try SharedLibrary(path: path, kind: "dispatch plugin", entrySymbol: MSERVE_DISPATCH_PLUGIN_ENTRY_SYMBOL)
        } catch {
            throw PluginError(.init(error.reason.rawValue), error.message)
        }
        let entryFunction = unsafeBitCast(library.entryPoint, to: mserve_dispatch_plugin_entry_fn.self)
        guard let table = entryFunction() else {
            throw PluginError(.invalidTable, "\(path): \(MSERVE_DISPATCH_PLUGIN_ENTRY_SYMBOL) returned NULL")
        }
        let checked = try entry(table: table, path: path)
        library.keep()
        return checked
    }

    /// The plugin behind `table`, checked: a version this broker speaks, a name, the functions
    /// its version requires. `path` names it in errors.
    private static func entry(table: UnsafePointer<mserve_dispatch_plugin>, path: String) throws(PluginError) -> Entry {
        // Only abi_version may be read before the version is known to be one this broker speaks.
        let version = table.pointee.abi_version
        guard (MSERVE_PLUGIN_ABI_MINIMUM...MSERVE_PLUGIN_ABI_VERSION).contains(version) else {
            throw PluginError(
                .abiVersionMismatch,
                "\(path): plugin ABI version \(version), this broker speaks versions "
                    + "\(MSERVE_PLUGIN_ABI_MINIMUM) to \(MSERVE_PLUGIN_ABI_VERSION)"
            )
        }
        let plugin = Self.currentTable(from: table, version: version)
        var keepTable = false
        defer { if !keepTable { UnsafeMutablePointer(mutating: plugin).deallocate() } }
        guard let namePointer = plugin.pointee.name, namePointer.pointee != 0 else {
            throw PluginError(.invalidTable, "\(path): the plugin table has no algorithm name")
        }
        let name = String(cString: namePointer)
        var missing: [String] = []
        if plugin.pointee.create == nil { missing.append("create") }
        if version >= 3 {
            if plugin.pointee.observe == nil { missing.append("observe") }
            if plugin.pointee.choose_in == nil { missing.append("choose_in") }
        } else {
            if plugin.pointee.choose == nil { missing.append("choose") }
            if plugin.pointee.completed == nil { missing.append("completed") }
        }
        if plugin.pointee.destroy == nil { missing.append("destroy") }
        guard missing.isEmpty else {
            throw PluginError(
                .invalidTable,
                "\(path): plugin \"\(name)\" lacks required functions: \(missing.joined(separator: ", "))"
            )
        }
        keepTable = true
        return Entry(
            plugin: LoadedDispatchPlugin(
                name: name,
                description: plugin.pointee.description.map { String(cString: $0) } ?? "",
                path: path,
                hasRoutingHook: plugin.pointee.route != nil
            ),
            table: plugin
        )
    }

    /// A copy of `table` in this header's layout, kept for the life of the process: the fields
    /// a plugin of an older `version` lacks (its table ends before them) are NULL. Nothing past
    /// the end of the plugin's own table is read.
    private static func currentTable(
        from table: UnsafePointer<mserve_dispatch_plugin>, version: UInt32
    ) -> UnsafePointer<mserve_dispatch_plugin> {
        let size =
            switch version {
            case 1: MemoryLayout<mserve_dispatch_plugin>.offset(of: \mserve_dispatch_plugin.take)!
            case 2: MemoryLayout<mserve_dispatch_plugin>.offset(of: \mserve_dispatch_plugin.observe)!
            default: MemoryLayout<mserve_dispatch_plugin>.size
            }
        let current = UnsafeMutablePointer<mserve_dispatch_plugin>.allocate(capacity: 1)
        current.initialize(to: mserve_dispatch_plugin())
        UnsafeMutableRawPointer(current).copyMemory(from: UnsafeRawPointer(table), byteCount: size)
        return UnsafePointer(current)
    }
}

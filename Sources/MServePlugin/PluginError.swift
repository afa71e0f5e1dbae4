/// Why a dispatch plugin could not be loaded or an algorithm could not be made.
///
/// The message names the plugin file (when there is one) and the problem, so it can stop the
/// broker's launch as it is.
public struct PluginError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure; extensible, compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, e.g. "missingSymbol".
        public var name: String

        /// Creates a code named `name`.
        public init(_ name: String) { self.name = name }

        /// A plugin file given in `MSERVE_PLUGINS` does not exist.
        public static let fileNotFound = Code("fileNotFound")
        /// The plugin file, or its directory, belongs to another user or may be written by its
        /// group or others: it is not loaded.
        public static let controlledByOthers = Code("controlledByOthers")
        /// `dlopen` refused the file; the message carries the `dlerror` text.
        public static let openFailed = Code("openFailed")
        /// The file does not export `mserve_dispatch_plugin_entry`.
        public static let missingSymbol = Code("missingSymbol")
        /// The plugin was built for another ABI version.
        public static let abiVersionMismatch = Code("abiVersionMismatch")
        /// The plugin table is unusable: a NULL table, name or required function.
        public static let invalidTable = Code("invalidTable")
        /// The plugin's `create` refused the configuration.
        public static let createFailed = Code("createFailed")
        /// No loaded plugin has the requested algorithm name.
        public static let unknownAlgorithm = Code("unknownAlgorithm")
        /// Two plugin files declare the same algorithm name.
        public static let duplicateName = Code("duplicateName")

        /// The code's name.
        public var description: String { name }
    }

    /// The kind of failure.
    public var code: Code
    /// What went wrong, naming the file and the problem.
    public var message: String
    /// The source file that raised the error.
    public var file: String
    /// The source line that raised the error.
    public var line: Int

    /// Creates an error; the location defaults to the caller's.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// The message, which names the file or algorithm and the problem (the code is for programs).
    public var description: String { message }
}

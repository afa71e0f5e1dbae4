/// Why a servant plugin could not be loaded.
///
/// The message names the plugin file and the problem, so it can stop the servant's launch as it is.
public struct ServantPluginError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure; extensible, compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, e.g. "missingSymbol".
        public var name: String

        /// Creates a code named `name`.
        public init(_ name: String) { self.name = name }

        /// A plugin path does not exist.
        public static let fileNotFound = Code("fileNotFound")
        /// The plugin file, or its directory, belongs to another user or may be written by its
        /// group or others: it is not loaded.
        public static let controlledByOthers = Code("controlledByOthers")
        /// `dlopen` refused the file; the message carries the `dlerror` text.
        public static let openFailed = Code("openFailed")
        /// The file does not export `mserve_servant_plugin_entry`.
        public static let missingSymbol = Code("missingSymbol")
        /// The plugin was built for another ABI version.
        public static let abiVersionMismatch = Code("abiVersionMismatch")
        /// The plugin table is unusable: NULL table, name, function or function name, bad arity.
        public static let invalidTable = Code("invalidTable")
        /// Two plugins (or one plugin twice) serve the same function name.
        public static let duplicateFunction = Code("duplicateFunction")

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

    /// The message, which names the file and the problem (the code is for programs).
    public var description: String { message }
}

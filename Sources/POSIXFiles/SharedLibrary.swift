#if canImport(Glibc)
import Glibc
#endif

/// A shared library opened for one entry point (a plugin's), the way both plugin loaders open
/// theirs: refused before `dlopen` unless it is a regular file, and when a user other than
/// root or this process's own could change it or its directory (`dlopen` runs the file's
/// constructors at once); the file judged is the file loaded, opened once; every symbol
/// bound now, and never unmapped.
///
/// The library is closed when this value ends unless ``keep()`` is called, once the caller has
/// checked what the entry point returned. Closing leaves the mapping (`RTLD_NODELETE`): a
/// library built with Swift registers its types and conformances with the Swift runtime as it
/// loads; unmapped, it would leave those records pointing at nothing, and the next dynamic
/// cast anywhere in the process (formatting a rejection's message, say) would crash.
public struct SharedLibrary: ~Copyable {
    /// Why a library was not opened.
    public struct Failure: Error, Equatable, Sendable {
        /// What went wrong; its raw value is the name the plugin loaders' error codes share.
        public enum Reason: String, Sendable {
            /// Another user could change the file or its directory: it was not opened (the
            /// message says who and how to fix it).
            case controlledByOthers
            /// `dlopen` failed (the message gives its reason).
            case openFailed
            /// The library has no such entry point (it is not the kind of plugin asked for).
            case missingSymbol
        }

        /// What went wrong.
        public var reason: Reason
        /// What went wrong, for people; names the file.
        public var message: String
    }

    private let handle: UnsafeMutableRawPointer
    /// The address of the entry point, to be cast to its C function type by the caller.
    public let entryPoint: UnsafeMutableRawPointer

    /// Opens the library at `path` (resolved: no symbolic links) and finds `entrySymbol` in it.
    /// `kind` names it in messages: `dispatch plugin` gives `PATH: cannot load dispatch
    /// plugin: REASON` and `PATH: not a dispatch plugin: symbol NAME not found`.
    public init(path: String, kind: String, entrySymbol: String) throws(Failure) {
        // Opened once, and that very file is judged and loaded (dlopen of /proc/self/fd/N): a
        // file renamed into its place after the checks is never loaded. Non-blocking: opening
        // a FIFO would wait for a writer. The loader knows a library by the name it was opened
        // under, so once dlopen has mapped one (even one rejected after, which stays mapped),
        // its descriptor stays open for the life of the process: its number, and so that name,
        // is never given to another file.
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw Failure(reason: .openFailed, message: "\(path): cannot load \(kind): \(String(cString: strerror(errno)))")
        }
        var mapped = false
        defer { if !mapped { close(descriptor) } }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw Failure(reason: .openFailed, message: "\(path): cannot load \(kind): \(String(cString: strerror(errno)))")
        }
        // Only a regular file, judged by its type before its mode: a device's mode (0666 for
        // /dev/null) is no one's to change.
        let type = UInt32(status.st_mode) & UInt32(S_IFMT)
        guard type == UInt32(S_IFREG) else {
            throw Failure(
                reason: .openFailed,
                message: "\(path): cannot load \(kind): it is \(POSIXFile.fileKind(type)), not a regular file")
        }
        if let refusal = POSIXFile.libraryLoadRefusal(atPath: path, what: "\(kind) file", openedAs: status) {
            throw Failure(reason: .controlledByOthers, message: refusal)
        }
        // dlopen would say "file too short" or "invalid ELF header" of a script or a text file.
        var magic: [UInt8] = [0, 0, 0, 0]
        let read = magic.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, 4, 0) }
        if read != 4 || magic != [0x7F, 0x45, 0x4C, 0x46] {
            throw Failure(
                reason: .openFailed,
                message: "\(path): cannot load \(kind): it is not a shared library (no ELF header)")
        }
        let opened = "/proc/self/fd/\(descriptor)"
        guard let handle = dlopen(opened, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
            throw Failure(
                reason: .openFailed, message: "\(path): cannot load \(kind): \(reason.replacing(opened, with: path))")
        }
        mapped = true
        guard let symbol = dlsym(handle, entrySymbol) else {
            dlclose(handle)
            throw Failure(reason: .missingSymbol, message: "\(path): not a \(kind): symbol \(entrySymbol) not found")
        }
        self.handle = handle
        self.entryPoint = symbol
    }

    /// Keeps the library open for the life of the process.
    public consuming func keep() {
        discard self
    }

    deinit {
        dlclose(handle)
    }
}

// POSIXFiles: a thin wrapper over the operating system's file calls, for files whose
// permission bits matter from their first instant (secret keys): created with O_EXCL and
// their final mode, written, synced and linked into place, so that no other user can ever
// read them; and read together with the mode they had when opened. Like the ZeroMQ and
// POSIXSockets wrappers, a target that touches unsafe pointers so its callers do not.

#if canImport(Glibc)
import Glibc
#endif

/// A file call that failed, naming the file and the system's reason.
public struct FileError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure; extensible, compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, as shown in messages.
        public let name: String

        /// A code named `name`.
        public init(_ name: String) { self.name = name }

        /// A system call failed (the message carries the system's reason).
        public static let systemCall = Code("system call")
        /// The file to create exists already; it was left as it was.
        public static let exists = Code("exists")

        /// The code's name.
        public var description: String { name }
    }

    /// What kind of failure.
    public var code: Code
    /// What failed and why, for people; names the file.
    public var message: String
    /// The system's error number, when a system call failed.
    public var systemErrorNumber: Int32?
    /// The system's reason alone (`strerror`), when a system call failed: for a caller that
    /// names the file in its own words.
    public var systemReason: String? { systemErrorNumber.map { String(cString: strerror($0)) } }
    /// Where the error was made.
    public var file: String
    /// The line where the error was made.
    public var line: Int

    /// An error of `code` saying `message`.
    public init(
        _ code: Code, _ message: String, systemErrorNumber: Int32? = nil, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.systemErrorNumber = systemErrorNumber
        self.file = file
        self.line = line
    }

    /// An error for the system call that just failed: `message`, then the system's reason.
    static func lastSystemCall(_ message: String, file: String = #fileID, line: Int = #line) -> FileError {
        let number = errno
        return FileError(
            number == EEXIST ? .exists : .systemCall, "\(message): \(String(cString: strerror(number)))",
            systemErrorNumber: number, file: file, line: line)
    }

    /// The message.
    public var description: String { message }
}

/// A file's contents and the permission bits it had when it was opened for reading.
public struct FileContents: Sendable {
    /// The bytes read.
    public var bytes: [UInt8]
    /// The permission bits (`st_mode & 0o7777`), of the very file the bytes came from.
    public var permissions: UInt32
}

/// Files created and read with their permission bits under control.
public enum POSIXFile {
    /// Creates the file `path` holding `contents` with permission bits `permissions` (e.g.
    /// `0o600`), refusing to replace an existing file (``FileError/Code-swift.struct/exists``).
    ///
    /// The bytes first go to a new temporary file beside `path`, opened with `O_CREAT | O_EXCL
    /// | O_NOFOLLOW` and `permissions` from the start (then `fchmod` to exactly that, whatever
    /// the umask), written and synced; it is then hard-linked as `path`, which fails if `path`
    /// exists, and its temporary name removed. So `path` never exists half written, and never,
    /// for an instant, with wider permissions than asked.
    public static func create(atPath path: String, contents: [UInt8], permissions: UInt32) throws(FileError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temporary =
            (directory == "/" ? "" : directory) + "/.\(name).\(String(UInt64.random(in: 0...UInt64.max), radix: 36)).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(permissions))
        guard descriptor >= 0 else {
            let error = FileError.lastSystemCall("cannot create \(path)")
            // An existing temporary name is not the caller's file existing.
            throw error.code == .exists ? FileError(.systemCall, error.message, systemErrorNumber: EEXIST) : error
        }
        defer { unlink(temporary) }
        do throws(FileError) {
            guard fchmod(descriptor, mode_t(permissions)) == 0 else { throw .lastSystemCall("cannot set the mode of \(path)") }
            try writeAll(descriptor, contents, path: path)
            guard fsync(descriptor) == 0 else { throw .lastSystemCall("cannot sync \(path)") }
        } catch {
            close(descriptor)
            throw error
        }
        guard close(descriptor) == 0 else { throw .lastSystemCall("cannot write \(path)") }
        guard link(temporary, path) == 0 else {
            let error = FileError.lastSystemCall("cannot create \(path)")
            throw error.code == .exists ? FileError(.exists, "\(path) exists", systemErrorNumber: EEXIST) : error
        }
        // The new name reaches the disk too (best effort: some file systems refuse it).
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    /// Reads the whole file at `path` and the permission bits of that very file, taken from
    /// the open descriptor (a file swapped in between cannot lend its mode to other bytes).
    /// Reads at most `limit` bytes; a longer file is an error.
    public static func read(atPath path: String, limit: Int = 1 << 20) throws(FileError) -> FileContents {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .lastSystemCall("cannot read \(path)") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .lastSystemCall("cannot read \(path)") }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .lastSystemCall("cannot read \(path)")
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
            guard bytes.count <= limit else {
                throw FileError(.systemCall, "cannot read \(path): larger than \(limit) bytes")
            }
        }
        return FileContents(bytes: bytes, permissions: UInt32(status.st_mode) & 0o7777)
    }

    /// The permission bits of the file at `path` (`stat`, following symbolic links).
    public static func permissions(atPath path: String) throws(FileError) -> UInt32 {
        var status = stat()
        guard stat(path, &status) == 0 else { throw .lastSystemCall("cannot stat \(path)") }
        return UInt32(status.st_mode) & 0o7777
    }

    /// Permission bits as `ls -l` and `chmod` spell them in octal, four digits: `0644`.
    public static func octal(_ permissions: UInt32) -> String {
        let digits = String(permissions & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// Writes every byte of `bytes`, retrying short writes and interruptions.
    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8], path: String) throws(FileError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw .lastSystemCall("cannot write \(path)")
            }
            offset += written
        }
    }
}

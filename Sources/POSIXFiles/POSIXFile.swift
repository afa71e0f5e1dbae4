// POSIXFiles: a thin wrapper over the operating system's file calls, for files whose
// permission bits matter from their first instant (secret keys): created with O_EXCL and
// their final mode, written, synced and linked into place, so that no other user can ever
// read them; and read together with the mode they had when opened; and shared libraries
// (plugins), opened only when no other user could have changed them. Like the ZeroMQ and
// POSIXSockets wrappers, a target that touches unsafe pointers so its callers do not.

#if canImport(Glibc)
import Glibc
#endif

/// A file's contents and the permission bits and owner it had when it was opened for reading.
public struct FileContents: Sendable {
    /// The bytes read.
    public var bytes: [UInt8]
    /// The permission bits (`st_mode & 0o7777`), of the very file the bytes came from.
    public var permissions: UInt32
    /// The user id that owns the very file the bytes came from (`st_uid`).
    public var owner: UInt32
    /// Whether it was a regular file rather than a pipe (read with `acceptingPipes`), whose
    /// permission bits say who may read it.
    public var isRegularFile: Bool = true
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
        let directory = directory(holding: path)
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
    /// Reads at most `limit` bytes; a longer file is an error (``FileError/Code-swift.struct/tooLarge``).
    ///
    /// Only a regular file is read: anything else (a FIFO, a device, a directory, a socket) is
    /// refused (``FileError/Code-swift.struct/notRegularFile``) without reading a byte, and never
    /// waited on: the file is opened with `O_NONBLOCK`, so a FIFO without a writer cannot block
    /// the open, and `fstat` of the descriptor says what it is. With `acceptingPipes`, a pipe
    /// (`<(cat key.pub)`, a FIFO) is read too: what its writer wrote, to the writer's end; a
    /// pipe without a writer reads as empty, and is not waited on either.
    public static func read(
        atPath path: String, limit: Int = 1 << 20, acceptingPipes: Bool = false
    ) throws(FileError) -> FileContents {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw .lastSystemCall("cannot read \(path)") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .lastSystemCall("cannot read \(path)") }
        let type = UInt32(status.st_mode) & UInt32(S_IFMT)
        let isPipe = type == UInt32(S_IFIFO)
        guard type == UInt32(S_IFREG) || (acceptingPipes && isPipe) else {
            throw FileError(
                .notRegularFile, readingPath: path, reason: "it is \(fileKind(type)), not a regular file")
        }
        // A pipe's writer may not have written yet: wait for its bytes, as for a file's.
        if isPipe, fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK) != 0 {
            throw .lastSystemCall("cannot read \(path)")
        }
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
                throw FileError(.tooLarge, readingPath: path, reason: "larger than \(limit) bytes")
            }
        }
        return FileContents(
            bytes: bytes, permissions: UInt32(status.st_mode) & 0o7777, owner: UInt32(status.st_uid),
            isRegularFile: type == UInt32(S_IFREG))
    }

    /// What a file of type `type` (`st_mode & S_IFMT`) is, for people: `a FIFO (named pipe)`.
    static func fileKind(_ type: UInt32) -> String {
        switch type {
        case UInt32(S_IFIFO): "a FIFO (named pipe)"
        case UInt32(S_IFDIR): "a directory"
        case UInt32(S_IFLNK): "a symbolic link"
        case UInt32(S_IFCHR): "a character device"
        case UInt32(S_IFBLK): "a block device"
        case UInt32(S_IFSOCK): "a socket"
        default: "of file type \(String(type >> 12, radix: 8))"
        }
    }

    /// Opens the regular file `path` to read and write it, never through a symbolic link:
    /// for a file the caller keeps in a directory of its own (a lock file, a database), which a
    /// link must not send elsewhere. With `creatingWith`, a missing file is created with those
    /// permission bits (after the umask); without, a missing file is an error.
    ///
    /// A symbolic link at `path`, dangling or not, is refused (`O_NOFOLLOW`), and so is
    /// anything else that is not a regular file (a FIFO, a device, a directory, a socket:
    /// ``FileError/Code-swift.struct/notRegularFile``, `cannot write PATH: it is a FIFO (named
    /// pipe), not a regular file`), before it is opened (`lstat`), so that opening a device
    /// does nothing, and again from the open descriptor (`fstat`). A file that cannot be
    /// written (its mode, an immutable flag, a read-only file system) is
    /// `cannot write PATH: REASON`, with the system's reason. Returns the descriptor, which
    /// the caller closes.
    public static func openRegularFileForWriting(
        atPath path: String, creatingWith permissions: UInt32? = nil
    ) throws(FileError) -> Int32 {
        var status = stat()
        if lstat(path, &status) == 0 {
            try refuseIfNotRegular(status, path: path)
        } else if errno != ENOENT || permissions == nil {
            throw .lastSystemCall("cannot write \(path)")
        }
        let flags = O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (permissions == nil ? 0 : O_CREAT)
        let descriptor = open(path, flags, mode_t(permissions ?? 0))
        guard descriptor >= 0 else {
            // A link or a directory put there since the look above.
            if errno == ELOOP { throw FileError(.notRegularFile, doing: "write", path: path, reason: notRegular(UInt32(S_IFLNK))) }
            if errno == EISDIR { throw FileError(.notRegularFile, doing: "write", path: path, reason: notRegular(UInt32(S_IFDIR))) }
            throw .lastSystemCall("cannot write \(path)")
        }
        do throws(FileError) {
            guard fstat(descriptor, &status) == 0 else { throw .lastSystemCall("cannot write \(path)") }
            try refuseIfNotRegular(status, path: path)
            guard fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK) == 0 else {
                throw .lastSystemCall("cannot write \(path)")
            }
        } catch {
            close(descriptor)
            throw error
        }
        return descriptor
    }

    /// Sets the permission bits of the regular file `path` to exactly `permissions`, never
    /// through a symbolic link, and without opening the file for reading or writing
    /// (`fchmodat` with `AT_SYMLINK_NOFOLLOW`): closing any descriptor of a file lets go of
    /// every POSIX lock this process holds on it, a database library's among them. Refuses
    /// what is not a regular file as ``openRegularFileForWriting(atPath:creatingWith:)`` does;
    /// `cannot set the mode of PATH to MODE: REASON` when it cannot.
    public static func setPermissions(_ permissions: UInt32, ofRegularFileAtPath path: String) throws(FileError) {
        try checkWritableRegularFile(atPath: path, orMissing: false)
        guard fchmodat(AT_FDCWD, path, mode_t(permissions), AT_SYMLINK_NOFOLLOW) == 0 else {
            throw .lastSystemCall("cannot set the mode of \(path) to \(octal(permissions))")
        }
    }

    /// Checks, without opening it, that `path` is a regular file this process may write: not
    /// a symbolic link (`lstat`), a FIFO, a directory or a device
    /// (``FileError/Code-swift.struct/notRegularFile``, `cannot write PATH: it is a symbolic
    /// link, not a regular file`), and not kept from writing by its mode, an immutable flag or
    /// a read-only file system (`access`: `cannot write PATH: REASON`). Not opening it matters
    /// for a file another library in this process may hold open and locked (a database):
    /// closing a descriptor of it would let go of that library's POSIX locks. Returns false
    /// when there is no such file and `orMissing` allows it.
    @discardableResult
    public static func checkWritableRegularFile(atPath path: String, orMissing: Bool = true) throws(FileError) -> Bool {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            if errno == ENOENT, orMissing { return false }
            throw .lastSystemCall("cannot write \(path)")
        }
        try refuseIfNotRegular(status, path: path)
        guard access(path, W_OK) == 0 else { throw .lastSystemCall("cannot write \(path)") }
        return true
    }

    /// Refuses what is not a regular file, and a regular file with another name (a hard
    /// link): what is written to it would change the file under that name too, which may lie
    /// outside the caller's directory.
    private static func refuseIfNotRegular(_ status: stat, path: String) throws(FileError) {
        let type = UInt32(status.st_mode) & UInt32(S_IFMT)
        guard type == UInt32(S_IFREG) else {
            throw FileError(.notRegularFile, doing: "write", path: path, reason: notRegular(type))
        }
        guard status.st_nlink <= 1 else {
            throw FileError(
                .notRegularFile, doing: "write", path: path,
                reason: "it has \(status.st_nlink) names (hard links), and a write would change the file under the others too")
        }
    }

    private static func notRegular(_ type: UInt32) -> String { "it is \(fileKind(type)), not a regular file" }

    /// The permission bits of the file at `path` (`stat`, following symbolic links).
    public static func permissions(atPath path: String) throws(FileError) -> UInt32 {
        var status = stat()
        guard stat(path, &status) == 0 else { throw .lastSystemCall("cannot stat \(path)") }
        return UInt32(status.st_mode) & 0o7777
    }

    /// Who besides the owner may use a file with `permissions`, and how: `its group may read
    /// it`, `other users may write it`, `its group may read and write it and other users may
    /// read it`; empty when only the owner may (no bit of 0o077).
    public static func exposure(_ permissions: UInt32) -> String {
        var parts: [String] = []
        for (shift, who) in [(UInt32(3), "its group"), (0, "other users")] {
            let bits = (permissions >> shift) & 0o7
            let uses = [(UInt32(0o4), "read"), (0o2, "write"), (0o1, "execute")].filter { bits & $0.0 != 0 }.map(\.1)
            guard let last = uses.last else { continue }
            let listed = uses.count == 1 ? last : uses.dropLast().joined(separator: ", ") + " and " + last
            parts.append("\(who) may \(listed) it")
        }
        return parts.joined(separator: " and ")
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

/// Why users other than the trusted ones could change a file or a directory: what
/// ``POSIXFile/outsideControl(atPath:trustedOwners:)`` finds.
public enum OutsideControl: Sendable, Hashable {
    /// Another user owns it, and so may change its mode and what it holds.
    case ownedBy(uid: UInt32)
    /// Its group or other users may write it (one of the bits 0o022 is set; a directory's
    /// sticky bit does not help: whoever may write the directory may still add a file);
    /// `permissions` is `st_mode & 0o7777`.
    case writableByOthers(permissions: UInt32)
}

/// Which file a path leads to: its device and inode, the same for every name the file has
/// (symbolic and hard links alike).
public struct FileIdentity: Hashable, Sendable {
    /// The device holding the file (`st_dev`).
    public var device: UInt64
    /// The file's inode on that device (`st_ino`).
    public var inode: UInt64
}

extension POSIXFile {
    /// The file `path` leads to (`stat`, following symbolic links); nil when it cannot be
    /// reached.
    public static func identity(atPath path: String) -> FileIdentity? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    /// The directory holding `path` as written: what comes before its last `/` (`/` for a
    /// file at the root, `.` for a bare name).
    public static func directory(holding path: String) -> String {
        let slash = path.lastIndex(of: "/")
        return slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
    }

    /// `path` with every symbolic link, `.` and `..` resolved (`realpath`); nil when it cannot
    /// be resolved (a missing file, say).
    public static func resolvedPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

extension POSIXFile {
    /// Creates a new directory in `parent`, named `prefix` and six random characters, mode
    /// 0700 (`mkdtemp`), and returns its path. The name is chosen and the directory created in
    /// one step that fails on any existing path and tries another name, so nothing already
    /// there is ever used: not a symbolic link, nor a directory, that another user planted at
    /// a name they could guess (in /tmp, say).
    public static func makeUniqueDirectory(in parent: String, prefix: String) throws(FileError) -> String {
        var template = ((parent.hasSuffix("/") ? parent : parent + "/") + prefix + "XXXXXX").utf8CString
        let made = template.withUnsafeMutableBufferPointer { $0.baseAddress.map { mkdtemp($0) != nil } ?? false }
        guard made else { throw .lastSystemCall("cannot create a directory \(prefix)… in \(parent)") }
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension POSIXFile {
    /// Whether users other than `trustedOwners` (uids) could change the file or directory
    /// at `path` (`stat`, following symbolic links): it belongs to another user, or its group
    /// or other users may write it. Nil when only a trusted owner can. The one check behind
    /// every refusal of a file or directory others control (the hub directory, plugins).
    public static func outsideControl(atPath path: String, trustedOwners: [UInt32]) throws(FileError) -> OutsideControl? {
        var status = stat()
        guard stat(path, &status) == 0 else { throw .lastSystemCall("cannot stat \(path)") }
        return outsideControl(of: status, trustedOwners: trustedOwners)
    }

    /// ``outsideControl(atPath:trustedOwners:)`` of the file whose `stat` is `status` (as
    /// `fstat` gave it for a file already open).
    static func outsideControl(of status: stat, trustedOwners: [UInt32]) -> OutsideControl? {
        outsideControl(owner: UInt32(status.st_uid), permissions: UInt32(status.st_mode) & 0o7777, trustedOwners: trustedOwners)
    }

    /// ``outsideControl(atPath:trustedOwners:)`` of a file owned by `owner` with the permission
    /// bits `permissions`.
    static func outsideControl(owner: UInt32, permissions: UInt32, trustedOwners: [UInt32]) -> OutsideControl? {
        guard trustedOwners.contains(owner) else { return .ownedBy(uid: owner) }
        return permissions & 0o022 == 0 ? nil : .writableByOthers(permissions: permissions)
    }

    /// This process's effective user id, for ``outsideControl(atPath:trustedOwners:)``.
    public static var effectiveUserID: UInt32 { UInt32(geteuid()) }
}

extension POSIXFile {
    /// Why the shared library at `path` must not be loaded into this process (`dlopen` runs
    /// its constructors at once), or nil when it may: the file, or the directory holding it,
    /// belongs to a user other than root or this process's effective user, or its group or
    /// other users may write it (a sticky directory, such as /tmp, included). Whoever could
    /// change the file, or put another in its place, would run code as this process's user.
    /// The message names the fix: `chmod go-w`, `chown`, or, for a sticky directory shared on
    /// purpose as /tmp is, moving the file. `what` names the file in the message (`dispatch
    /// plugin file`); `path` should be the resolved path (no symbolic links), the file then
    /// loaded (``SharedLibrary`` judges the very file it opened).
    public static func libraryLoadRefusal(atPath path: String, what: String) -> String? {
        libraryLoadRefusal(atPath: path, what: what, openedAs: nil)
    }

    /// ``libraryLoadRefusal(atPath:what:)``, the file judged by `opened`, the `fstat` of the
    /// very file about to be loaded, when given (its directory still by path).
    static func libraryLoadRefusal(atPath path: String, what: String, openedAs opened: stat?) -> String? {
        controlRefusal(
            atPath: path, what: what, shownAs: path,
            opened: opened.map { (UInt32($0.st_uid), UInt32($0.st_mode) & 0o7777) },
            fileHarm: "change the code this process runs", directoryHarm: "put other code in the plugin's place",
            otherwise: "load another file")
    }

    /// Why the file at `path` must not be used by this process, or nil when it may: the file,
    /// or the directory holding it, belongs to a user other than root or this process's
    /// effective user, or its group or other users may write it (a sticky directory, such as
    /// /tmp, included). Plugin files and a `--users` file are judged so: whoever could change
    /// the file, or put another in its place, would choose what this process trusts.
    ///
    /// `path` should be the resolved path (no symbolic links), so that the directory judged is
    /// the one really holding the file. `read`, when given, is the file as this process read
    /// it: its owner and mode are judged, those of the very file read. The message names the
    /// file as `the WHAT SHOWN` (`shown`: how the caller was given it, `path` by default), says
    /// what whoever could change the file (`fileHarm`) or write its directory
    /// (`directoryHarm`) could do, and the fix: `chmod go-w`, `chown` (or `otherwise`), or,
    /// for a sticky directory shared on purpose as /tmp is, moving the file.
    public static func controlRefusal(
        atPath path: String, what: String, shownAs shown: String? = nil, read contents: FileContents? = nil,
        fileHarm: String, directoryHarm: String, otherwise alternative: String
    ) -> String? {
        controlRefusal(
            atPath: path, what: what, shownAs: shown ?? path, opened: contents.map { ($0.owner, $0.permissions) },
            fileHarm: fileHarm, directoryHarm: directoryHarm, otherwise: alternative)
    }

    /// ``controlRefusal(atPath:what:shownAs:read:fileHarm:directoryHarm:otherwise:)``, the
    /// file judged by `opened` (its owner and permission bits), when given.
    static func controlRefusal(
        atPath path: String, what: String, shownAs shown: String, opened: (owner: UInt32, permissions: UInt32)?,
        fileHarm: String, directoryHarm: String, otherwise alternative: String
    ) -> String? {
        let directory = directory(holding: path)
        let trusted = [0, effectiveUserID]
        for (checked, name) in [(path, "the \(what) \(shown)"), (directory, "the directory \(directory) of the \(what) \(shown)")] {
            let control: OutsideControl?
            do {
                if checked == path, let opened {
                    control = outsideControl(owner: opened.owner, permissions: opened.permissions, trustedOwners: trusted)
                } else {
                    control = try outsideControl(atPath: checked, trustedOwners: trusted)
                }
            } catch {
                return "cannot check who may change \(name): \(error.systemReason ?? error.message)"
            }
            let harm = checked == path ? fileHarm : directoryHarm
            if let refusal = refusal(of: control, name: name, at: checked, isDirectory: checked == directory, harm: harm, otherwise: alternative) {
                return refusal
            }
        }
        return nil
    }

    /// The refusal for `control` of `name` at `checked`, or nil when there is none. A sticky
    /// directory others may write is shared on purpose (/tmp): taking their write access away
    /// would break it for them, so the fix named is to move `moved` (`the file`) elsewhere.
    public static func refusal(
        of control: OutsideControl?, name: String, at checked: String, isDirectory: Bool, harm: String,
        otherwise alternative: String, moving moved: String = "the file"
    ) -> String? {
        if case .writableByOthers(let permissions)? = control, isDirectory, permissions & 0o1000 != 0 {
            let owner = effectiveUserID == 0 ? "root" : "root or this process's user"
            return "\(name) has mode \(octal(permissions)), so \(exposure(permissions)): whoever may write it "
                + "could \(harm); it is a shared directory (sticky, as /tmp is), so leave its mode and move \(moved) to "
                + "a directory only \(owner) may write"
        }
        return control.map { $0.refusal(of: name, at: checked, whoCould: harm, otherwise: alternative) }
    }

    /// Why the symbolic link `given`, which leads to `resolved`, must not be followed, or nil
    /// when it may (or `given` is no link): the directory holding the link belongs to a user
    /// other than root or this process's effective user, or its group or other users may
    /// write it (a sticky directory, such as /tmp, included). Whoever may write that
    /// directory may point the link at another file (another plugin, an older users file)
    /// before the next start. The file the link leads to and its directory are judged by
    /// ``controlRefusal(atPath:what:shownAs:read:fileHarm:directoryHarm:otherwise:)``; this
    /// judges the link's own place, as the message names it: `the directory DIR of the link
    /// GIVEN to the WHAT RESOLVED`.
    public static func linkRefusal(given: String, resolved: String, what: String) -> String? {
        var status = stat()
        guard given != resolved, lstat(given, &status) == 0, status.st_mode & S_IFMT == S_IFLNK else { return nil }
        let directory = directory(holding: given)
        let name = "the directory \(directory) of the link \(given) to the \(what) \(resolved)"
        let control: OutsideControl?
        do {
            control = try outsideControl(atPath: directory, trustedOwners: [0, effectiveUserID])
        } catch {
            return "cannot check who may change \(name): \(error.systemReason ?? error.message)"
        }
        return refusal(
            of: control, name: name, at: directory, isDirectory: true,
            harm: "point the link at another file", otherwise: "give the file's own path", moving: "the link")
    }
}

extension OutsideControl {
    /// Why `name` (at `path`), which only root and this process's user may control, is
    /// refused: `NAME belongs to uid U, who could HARM: it must belong to …; run chown …, or
    /// OTHERWISE`, or `NAME has mode M, so …: whoever may write it could HARM; run chmod go-w
    /// PATH`.
    public func refusal(of name: String, at path: String, whoCould harm: String, otherwise alternative: String) -> String {
        let me = POSIXFile.effectiveUserID
        switch self {
        case .ownedBy(let uid):
            let owner = me == 0 ? "root" : "root or this process's user (uid \(me))"
            return "\(name) belongs to uid \(uid), who could \(harm): it must belong to \(owner); "
                + "run chown \(me) \(path) (as root), or \(alternative)"
        case .writableByOthers(let permissions):
            return "\(name) has mode \(POSIXFile.octal(permissions)), so \(POSIXFile.exposure(permissions)): whoever may write it "
                + "could \(harm); run chmod go-w \(path)"
        }
    }
}

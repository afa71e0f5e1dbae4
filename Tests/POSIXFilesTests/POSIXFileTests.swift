import Foundation
import POSIXFiles
import Synchronization
import Testing

struct POSIXFileTests {
    private func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("posix-file-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test(arguments: [UInt32(0o600), 0o644, 0o400])
    func aCreatedFileHasExactlyThePermissionsAskedAndItsContents(permissions: UInt32) throws {
        let directory = try directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/secret"
        try POSIXFile.create(atPath: path, contents: Array("key\n".utf8), permissions: permissions)
        #expect(try POSIXFile.permissions(atPath: path) == permissions)
        let read = try POSIXFile.read(atPath: path)
        #expect(read.bytes == Array("key\n".utf8))
        #expect(read.permissions == permissions)
        // Only the file itself: its temporary name is gone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["secret"])
    }

    @Test func anExistingFileIsNeitherReplacedNorChanged() throws {
        let directory = try directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/secret"
        try POSIXFile.create(atPath: path, contents: Array("first".utf8), permissions: 0o600)
        let error = #expect(throws: FileError.self) {
            try POSIXFile.create(atPath: path, contents: Array("second".utf8), permissions: 0o644)
        }
        #expect(error?.code == .exists)
        #expect(error?.message == "\(path) exists")
        #expect(try POSIXFile.read(atPath: path).bytes == Array("first".utf8))
        #expect(try POSIXFile.permissions(atPath: path) == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["secret"])
    }

    @Test func aFileThatCannotBeMadeOrReadIsAnErrorNamingItAndTheReason() throws {
        let missing = "/nonexistent-\(UUID().uuidString)/secret"
        let notMade = #expect(throws: FileError.self) {
            try POSIXFile.create(atPath: missing, contents: [1], permissions: 0o600)
        }
        #expect(notMade?.message == "cannot create \(missing): No such file or directory")
        let notRead = #expect(throws: FileError.self) { try POSIXFile.read(atPath: missing) }
        #expect(notRead?.message == "cannot read \(missing): No such file or directory")
        #expect(notRead?.systemReason == "No such file or directory")
    }

    /// A file kept in a directory of the caller's own (a lock, a database) is opened only as
    /// the regular file it must be: never through a symbolic link, which could lead outside
    /// the directory, and never a FIFO, a directory or a device.
    @Test func onlyARegularFileIsOpenedForWritingAndNeverThroughALink() throws {
        let directory = try directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = directory + "/target"
        try POSIXFile.create(atPath: target, contents: Array("keep".utf8), permissions: 0o644)
        let link = directory + "/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let dangling = directory + "/dangling"
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: directory + "/made")
        let fifo = directory + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let hardLink = directory + "/hard-link"
        #expect(Glibc.link(target, hardLink) == 0)
        let cases = [
            (link, "it is a symbolic link, not a regular file"), (dangling, "it is a symbolic link, not a regular file"),
            (hardLink, "it has 2 names (hard links), and a write would change the file under the others too"),
            (fifo, "it is a FIFO (named pipe), not a regular file"), (directory, "it is a directory, not a regular file"),
            ("/dev/null", "it is a character device, not a regular file"),
        ]
        for (path, reason) in cases {
            let error = #expect(throws: FileError.self) {
                _ = try POSIXFile.openRegularFileForWriting(atPath: path, creatingWith: 0o600)
            }
            #expect(error?.code == .notRegularFile)
            #expect(error?.message == "cannot write \(path): \(reason)")
            #expect(error?.reason == reason)
            #expect(throws: FileError.self) { try POSIXFile.setPermissions(0o600, ofRegularFileAtPath: path) }
        }
        #expect(try POSIXFile.read(atPath: target).bytes == Array("keep".utf8))
        #expect(try POSIXFile.permissions(atPath: target) == 0o644)
        #expect(!FileManager.default.fileExists(atPath: directory + "/made"))

        // A missing file is made only when asked; a regular one is opened and its mode set.
        let missing = directory + "/missing"
        let notMade = #expect(throws: FileError.self) { _ = try POSIXFile.openRegularFileForWriting(atPath: missing) }
        #expect(notMade?.message == "cannot write \(missing): No such file or directory")
        close(try POSIXFile.openRegularFileForWriting(atPath: missing, creatingWith: 0o600))
        try POSIXFile.setPermissions(0o640, ofRegularFileAtPath: missing)
        #expect(try POSIXFile.permissions(atPath: missing) == 0o640)
    }

    /// Checking a file and setting its mode open no descriptor of it: closing one would let go
    /// of every POSIX lock this process holds on the file, as SQLite's on the hub's database.
    @Test func checkingAFileOrSettingItsModeKeepsThisProcesssLocksOnIt() throws {
        let directory = try directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/database"
        try POSIXFile.create(atPath: path, contents: Array("rows".utf8), permissions: 0o644)
        // A write lock on the whole file, as `fcntl` takes and reports it.
        func wholeFileWriteLock() -> flock {
            var lock = flock()
            lock.l_type = Int16(F_WRLCK)
            lock.l_whence = Int16(SEEK_SET)
            return lock
        }
        let holder = open(path, O_RDWR)
        #expect(holder >= 0)
        defer { close(holder) }
        var lock = wholeFileWriteLock()
        #expect(fcntl(holder, F_SETLK, &lock) == 0)

        #expect(try POSIXFile.checkWritableRegularFile(atPath: path))
        try POSIXFile.setPermissions(0o600, ofRegularFileAtPath: path)
        #expect(try POSIXFile.permissions(atPath: path) == 0o600)

        // An open file description lock conflicts with this process's own POSIX lock, so
        // F_OFD_GETLK (36) from another descriptor sees whether it is still held.
        let looker = open(path, O_RDONLY)
        #expect(looker >= 0)
        defer { close(looker) }
        var probe = wholeFileWriteLock()
        #expect(fcntl(looker, 36, &probe) == 0)
        #expect(probe.l_type == Int16(F_WRLCK), "the write lock was let go")

        #expect(try POSIXFile.checkWritableRegularFile(atPath: directory + "/none") == false)
        #expect(throws: FileError.self) { try POSIXFile.checkWritableRegularFile(atPath: directory + "/none", orMissing: false) }
    }

    @Test func aFileLargerThanTheLimitIsNotRead() throws {
        let directory = try directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/big"
        try POSIXFile.create(atPath: path, contents: [UInt8](repeating: 7, count: 10_000), permissions: 0o600)
        #expect(try POSIXFile.read(atPath: path, limit: 10_000).bytes.count == 10_000)
        #expect(throws: FileError.self) { try POSIXFile.read(atPath: path, limit: 9_999) }
    }

    /// Runs `body` on a thread of its own and waits for it at most `seconds`: nil when it did
    /// not finish (the thread is left blocked), so a read that hangs fails the test instead of
    /// hanging it. Waits without holding a thread of the concurrency pool, which every test
    /// running at once shares.
    private func finishing<T: Sendable>(within seconds: Int = 30, _ body: @escaping @Sendable () -> T) async -> T? {
        let result = Mutex<T?>(nil)
        let done = Atomic(false)
        Thread {
            result.withLock { $0 = body() }
            done.store(true, ordering: .releasing)
        }.start()
        let giveUp = ContinuousClock.now + .seconds(seconds)
        while !done.load(ordering: .acquiring) {
            guard ContinuousClock.now < giveUp else { return nil }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return result.withLock { $0 }
    }

    /// A FIFO, a device or a directory is refused at once, whatever its mode, never read nor
    /// waited on: a FIFO without a writer would block the open, and then the read, for ever.
    @Test func onlyARegularFileIsReadAndNothingElseIsWaitedOn() async throws {
        let directory = try directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fifo = directory + "/secret.key"
        #expect(mkfifo(fifo, 0o600) == 0)
        let device = directory + "/zero"
        try FileManager.default.createSymbolicLink(atPath: device, withDestinationPath: "/dev/zero")
        for (path, kind) in [(fifo, "a FIFO (named pipe)"), (device, "a character device"), (directory, "a directory")] {
            let outcome = await finishing { () -> FileError? in
                do throws(FileError) {
                    _ = try POSIXFile.read(atPath: path, limit: 4096)
                    return nil
                } catch {
                    return error
                }
            }
            let error = try #require(outcome, "reading \(path) did not finish")
            #expect(error?.code == .notRegularFile)
            #expect(error?.message == "cannot read \(path): it is \(kind), not a regular file")
            #expect(error?.reason == "it is \(kind), not a regular file")
        }
    }

    /// With `acceptingPipes`, a pipe is read as `<(cat key.pub)` gives it: the bytes its
    /// writer wrote; and a FIFO nobody writes to reads as empty, without waiting for a writer.
    @Test func aPipeIsReadWhenAcceptedAndAFIFOWithoutAWriterIsNotWaitedOn() async throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]) }
        _ = Array("key\n".utf8).withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) }
        close(ends[1])
        let piped = try POSIXFile.read(atPath: "/dev/fd/\(ends[0])", acceptingPipes: true)
        #expect(piped.bytes == Array("key\n".utf8))
        #expect(!piped.isRegularFile)

        let directory = try directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fifo = directory + "/unwritten"
        #expect(mkfifo(fifo, 0o600) == 0)
        let unwritten = await finishing { try? POSIXFile.read(atPath: fifo, acceptingPipes: true).bytes }
        #expect(unwritten == .some([]))
    }

    @Test func aFileLargerThanTheLimitSaysSoOnce() throws {
        let directory = try directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/big"
        try POSIXFile.create(atPath: path, contents: [UInt8](repeating: 7, count: 100), permissions: 0o600)
        let error = #expect(throws: FileError.self) { try POSIXFile.read(atPath: path, limit: 99) }
        #expect(error?.code == .tooLarge)
        #expect(error?.reason == "larger than 99 bytes")
    }

    @Test func octalIsHowChmodSpellsIt() {
        #expect(POSIXFile.octal(0o600) == "0600")
        #expect(POSIXFile.octal(0o4755) == "4755")
        #expect(POSIXFile.octal(0) == "0000")
    }

    /// The words a refusal of a file's mode uses say who besides the owner may do what.
    @Test(arguments: [
        (UInt32(0o600), ""), (0o400, ""), (0o640, "its group may read it"), (0o602, "other users may write it"),
        (0o644, "its group may read it and other users may read it"), (0o610, "its group may execute it"),
        (0o677, "its group may read, write and execute it and other users may read, write and execute it"),
    ])
    func exposureSaysWhoMayDoWhat(permissions: UInt32, expected: String) {
        #expect(POSIXFile.exposure(permissions) == expected)
    }

    /// Only the owner's write bit and a trusted owner leave a file or directory out of others'
    /// control; read and execute bits for others do not matter, a sticky bit does not help.
    @Test func outsideControlIsAnotherOwnerOrAWriteBitForGroupOrOthers() throws {
        let directory = try directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let me = POSIXFile.effectiveUserID
        for (mode, expected) in [
            (UInt32(0o755), OutsideControl?.none), (0o700, nil), (0o775, .writableByOthers(permissions: 0o775)),
            (0o757, .writableByOthers(permissions: 0o757)), (0o1777, .writableByOthers(permissions: 0o1777)),
        ] {
            #expect(chmod(directory, mode_t(mode)) == 0)
            #expect(try POSIXFile.outsideControl(atPath: directory, trustedOwners: [me]) == expected, "\(POSIXFile.octal(mode))")
        }
        #expect(chmod(directory, 0o700) == 0)
        #expect(try POSIXFile.outsideControl(atPath: directory, trustedOwners: [me &+ 1]) == .ownedBy(uid: me))
        #expect(throws: FileError.self) { try POSIXFile.outsideControl(atPath: directory + "/none", trustedOwners: [me]) }
    }

    /// A library is judged with the directory holding it; the refusal names the one at fault
    /// and the fix.
    @Test func aLibraryLoadRefusalNamesTheFileOrDirectoryAtFaultAndTheFix() throws {
        let directory = try directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(chmod(directory, 0o755) == 0)
        let library = directory + "/libx.so"
        try POSIXFile.create(atPath: library, contents: [], permissions: 0o755)
        #expect(POSIXFile.libraryLoadRefusal(atPath: library, what: "test plugin") == nil)
        #expect(chmod(library, 0o775) == 0)
        #expect(
            POSIXFile.libraryLoadRefusal(atPath: library, what: "test plugin")
                == "the test plugin \(library) has mode 0775, so its group may read, write and execute it and other users "
                + "may read and execute it: whoever may write it could change the code this process runs; "
                + "run chmod go-w \(library)")
        #expect(chmod(library, 0o755) == 0)
        #expect(chmod(directory, 0o777) == 0)
        let refusal = POSIXFile.libraryLoadRefusal(atPath: library, what: "test plugin")
        #expect(refusal?.hasPrefix("the directory \(directory) of the test plugin \(library) has mode 0777") == true)
        #expect(refusal?.contains("could put other code in the plugin's place; run chmod go-w \(directory)") == true)
        // A sticky directory is shared on purpose (/tmp): the advice is to move the file.
        let owner = POSIXFile.effectiveUserID == 0 ? "root" : "root or this process's user"
        #expect(chmod(directory, 0o1777) == 0)
        let shared = POSIXFile.libraryLoadRefusal(atPath: library, what: "test plugin")
        #expect(shared?.hasPrefix("the directory \(directory) of the test plugin \(library) has mode 1777") == true)
        #expect(
            shared?.hasSuffix(
                "could put other code in the plugin's place; it is a shared directory (sticky, as /tmp is), "
                    + "so leave its mode and move the file to a directory only \(owner) may write") == true, "\(shared ?? "")")
        #expect(chmod(directory, 0o755) == 0)
        #expect(
            POSIXFile.libraryLoadRefusal(atPath: directory + "/none.so", what: "test plugin")?
                .hasPrefix("cannot check who may change the test plugin \(directory)/none.so: No such file") == true)
    }

    /// A symbolic link is judged by where it lies too: whoever may write the directory holding
    /// it could point it at another file. A path that is no link, or one whose link lies in a
    /// directory only its owner writes, is let through.
    @Test func aLinkInADirectoryOthersMayWriteIsRefused() throws {
        let directory = try directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(chmod(directory, 0o755) == 0)
        let file = directory + "/file"
        try POSIXFile.create(atPath: file, contents: [], permissions: 0o644)
        let links = directory + "/links"
        #expect(mkdir(links, 0o755) == 0)
        let link = links + "/link"
        #expect(symlink(file, link) == 0)
        #expect(POSIXFile.linkRefusal(given: link, resolved: file, what: "test file") == nil)
        #expect(POSIXFile.linkRefusal(given: file, resolved: file, what: "test file") == nil)
        #expect(chmod(links, 0o777) == 0)
        #expect(POSIXFile.linkRefusal(given: file, resolved: file, what: "test file") == nil, "no link")
        #expect(
            POSIXFile.linkRefusal(given: link, resolved: file, what: "test file")
                == "the directory \(links) of the link \(link) to the test file \(file) has mode 0777, so its group may read, "
                + "write and execute it and other users may read, write and execute it: whoever may write it could point "
                + "the link at another file; run chmod go-w \(links)")
        #expect(chmod(links, 0o1777) == 0)
        #expect(
            POSIXFile.linkRefusal(given: link, resolved: file, what: "test file")?
                .hasSuffix("it is a shared directory (sticky, as /tmp is), so leave its mode and move the link to a directory only "
                    + "\(POSIXFile.effectiveUserID == 0 ? "root" : "root or this process's user") may write") == true)
        #expect(chmod(links, 0o755) == 0)
    }

    /// The directory `makeUniqueDirectory` makes is new, a real directory (no link) of this
    /// user's alone (0700), named by the prefix and random characters; a
    /// second call makes another, and a parent that is missing is an error naming it.
    @Test func aUniqueDirectoryIsNewAndItsOwnersAlone() throws {
        let parent = try directory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let first = try POSIXFile.makeUniqueDirectory(in: parent, prefix: "demo-1-")
        let second = try POSIXFile.makeUniqueDirectory(in: parent + "/", prefix: "demo-1-")
        #expect(first != second)
        for path in [first, second] {
            #expect(path.hasPrefix(parent + "/demo-1-") && path.utf8.count == (parent + "/demo-1-").utf8.count + 6, "\(path)")
            var status = stat()
            #expect(lstat(path, &status) == 0)
            #expect(status.st_mode & S_IFMT == S_IFDIR)
            #expect(status.st_mode & 0o7777 == 0o700)
            #expect(status.st_uid == geteuid())
        }
        let missing = #expect(throws: FileError.self) { try POSIXFile.makeUniqueDirectory(in: parent + "/missing", prefix: "x-") }
        #expect(missing?.message == "cannot create a directory x-… in \(parent)/missing: No such file or directory")
    }
}

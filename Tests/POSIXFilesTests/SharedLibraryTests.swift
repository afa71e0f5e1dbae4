import Foundation
import Glibc
import MServeTestSupport
import POSIXFiles
import Synchronization
import Testing

struct SharedLibraryTests {
    /// The resolved path of the C library this process runs with: a shared library that only
    /// root controls, in a directory only root may write.
    private func systemCLibrary() throws -> String {
        let handle = try #require(FileHandle(forReadingAtPath: "/proc/self/maps"))
        defer { try? handle.close() }
        let maps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        let mapped = maps.split(separator: "\n").compactMap { line in line.split(separator: " ").last.map(String.init) }
        let name = try #require(mapped.first { $0.hasPrefix("/") && $0.hasSuffix("/libc.so.6") })
        return try #require(realpath(name, nil).map { pointer in
            defer { free(pointer) }
            return String(cString: pointer)
        })
    }

    @Test func aLibraryOnlyRootControlsOpensWithItsEntryPoint() throws {
        let path = try systemCLibrary()
        let library = try SharedLibrary(path: path, kind: "test plugin", entrySymbol: "getpid")
        let entry = unsafeBitCast(library.entryPoint, to: (@convention(c) () -> pid_t).self)
        #expect(entry() == getpid())
        library.keep()
    }

    @Test func aLibraryWithoutTheEntryPointIsNotThatKindOfPlugin() throws {
        let path = try systemCLibrary()
        let failure = #expect(throws: SharedLibrary.Failure.self) {
            _ = try SharedLibrary(path: path, kind: "test plugin", entrySymbol: "mserve_no_such_entry")
        }
        #expect(failure?.reason == .missingSymbol)
        #expect(failure?.message == "\(path): not a test plugin: symbol mserve_no_such_entry not found")
    }

    /// A file without an ELF header (a script, a text file) is said to be no shared library,
    /// where dlopen said "file too short" or "invalid ELF header".
    @Test func aFileThatIsNotALibraryIsSaidToBeNone() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shared-library-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/libnot.so"
        try POSIXFile.create(atPath: path, contents: Array("not an ELF file".utf8), permissions: 0o644)
        let failure = #expect(throws: SharedLibrary.Failure.self) {
            _ = try SharedLibrary(path: path, kind: "test plugin", entrySymbol: "getpid")
        }
        #expect(failure?.reason == .openFailed)
        #expect(failure?.message == "\(path): cannot load test plugin: it is not a shared library (no ELF header)", "\(failure?.message ?? "")")
    }

    /// `dlopen` of a FIFO waits for a writer for ever: anything but a regular file is refused.
    @Test func aFIFOIsRefusedNotWaitedOn() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shared-library-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/libfifo.so"
        #expect(mkfifo(path, 0o644) == 0)
        let failure = #expect(throws: SharedLibrary.Failure.self) {
            _ = try SharedLibrary(path: path, kind: "test plugin", entrySymbol: "getpid")
        }
        #expect(failure?.reason == .openFailed)
        #expect(failure?.message == "\(path): cannot load test plugin: it is a FIFO (named pipe), not a regular file")
    }

    /// A device is judged by its type first: /dev/null's mode 0666 is no one's to change.
    @Test func aDeviceIsRefusedAsNoRegularFileNotForItsMode() throws {
        let failure = #expect(throws: SharedLibrary.Failure.self) {
            _ = try SharedLibrary(path: "/dev/null", kind: "test plugin", entrySymbol: "getpid")
        }
        #expect(failure?.reason == .openFailed)
        #expect(failure?.message == "/dev/null: cannot load test plugin: it is a character device, not a regular file")
    }

    /// The file judged is the file loaded: while another thread keeps renaming a library others
    /// may write into the place of a good one, every load gets the good one or a refusal, and
    /// the other's constructor never runs.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/cc"), "no /usr/bin/cc"))
    func aLibrarySwappedInAfterTheChecksIsNeverLoaded() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shared-library-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let marker = directory + "/constructor-ran"
        func compile(_ name: String, _ source: String) async throws -> String {
            let sourcePath = directory + "/\(name).c", library = directory + "/\(name).so"
            try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
            // Spawned as the suite's processes are (posix_spawn, waited for off the concurrency
            // pool), not with Foundation's Process, whose run() crashed reading this process's
            // descriptors while other tests opened and closed hundreds of sockets.
            let compiler = try await SpawnedProcess.run(
                URL(fileURLWithPath: "/usr/bin/cc"), ["-shared", "-fPIC", "-o", library, sourcePath])
            #expect(compiler.status == 0, "\(compiler.errors)")
            return library
        }
        let good = try await compile("good", "int test_entry(void) { return 1; }\n")
        let bad = try await compile(
            "bad",
            """
            #include <fcntl.h>
            #include <unistd.h>
            int test_entry(void) { return 2; }
            __attribute__((constructor)) static void mark(void) {
                int descriptor = open("\(marker)", O_WRONLY | O_CREAT, 0600);
                if (descriptor >= 0) close(descriptor);
            }
            """)
        #expect(chmod(good, 0o755) == 0)
        #expect(chmod(bad, 0o666) == 0)
        let target = directory + "/target.so"
        #expect(link(good, target) == 0)

        let stop = Atomic(false)
        let swapper = Thread {
            var turn = 0
            while !stop.load(ordering: .relaxed) {
                let source = turn % 2 == 0 ? bad : good, staged = directory + "/staged-\(turn % 2).so"
                unlink(staged)
                if link(source, staged) == 0 { rename(staged, target) }
                turn += 1
            }
        }
        swapper.start()
        var loaded = 0, refused = 0, swappedIn = 0
        for load in 0..<3_000 {
            // Seconds of loads in all: the pool thread is handed to the other tests now and then.
            if load % 100 == 0 { await Task.yield() }
            do {
                let library = try SharedLibrary(path: target, kind: "test plugin", entrySymbol: "test_entry")
                let entry = unsafeBitCast(library.entryPoint, to: (@convention(c) () -> Int32).self)
                if entry() != 1 { swappedIn += 1 }
                loaded += 1
            } catch {
                refused += 1
            }
        }
        #expect(swappedIn == 0, "the library others may write was loaded \(swappedIn) times")
        stop.store(true, ordering: .relaxed)
        while !swapper.isFinished { try await Task.sleep(for: .milliseconds(1)) }
        #expect(!FileManager.default.fileExists(atPath: marker), "a refused library's constructor ran")
        #expect(loaded + refused == 3_000)
    }

    @Test func aLibraryInADirectoryOthersMayWriteIsNotOpened() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shared-library-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(chmod(directory, 0o777) == 0)
        let path = directory + "/libc-copy.so"
        try FileManager.default.copyItem(atPath: try systemCLibrary(), toPath: path)
        let failure = #expect(throws: SharedLibrary.Failure.self) {
            _ = try SharedLibrary(path: path, kind: "test plugin", entrySymbol: "getpid")
        }
        #expect(failure?.reason == .controlledByOthers)
        #expect(failure?.message.contains("the directory \(directory) of the test plugin file \(path)") == true, "\(failure?.message ?? "")")
        #expect(failure?.message.contains("chmod go-w \(directory)") == true, "\(failure?.message ?? "")")
    }
}

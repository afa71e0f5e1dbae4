import Foundation
import Glibc
import POSIXFiles
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

    @Test func aFileThatIsNotALibraryFailsWithDlopensReason() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shared-library-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/libnot.so"
        try POSIXFile.create(atPath: path, contents: Array("not an ELF file".utf8), permissions: 0o644)
        let failure = #expect(throws: SharedLibrary.Failure.self) {
            _ = try SharedLibrary(path: path, kind: "test plugin", entrySymbol: "getpid")
        }
        #expect(failure?.reason == .openFailed)
        #expect(failure?.message.hasPrefix("\(path): cannot load test plugin: ") == true, "\(failure?.message ?? "")")
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

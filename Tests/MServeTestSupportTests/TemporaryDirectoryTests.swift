import Foundation
import MServeTestSupport
import Testing

/// A test's temporary directory is new, empty and the owner's alone while the test runs, and
/// gone with all it holds once the test ends, whether it passed or threw.
struct TemporaryDirectoryTests {
    struct Thrown: Error {}

    /// Whether anything is at `path` (a link counts, not only what it leads to).
    static func exists(_ path: String) -> Bool {
        (try? FileManager.default.attributesOfItem(atPath: path)) != nil
    }

    /// Fills `directory` with a file, a subdirectory holding one, and a link.
    static func fill(_ directory: String) throws {
        try Data("x".utf8).write(to: URL(fileURLWithPath: directory + "/file"))
        try FileManager.default.createDirectory(atPath: directory + "/sub", withIntermediateDirectories: false)
        try Data("y".utf8).write(to: URL(fileURLWithPath: directory + "/sub/file"))
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: "/")
    }

    @Test func theDirectoryIsNewEmptyAndPrivateAndGoneAfterwards() throws {
        let path = try withTemporaryDirectory("mserve-temporary-test") { directory in
            #expect(directory.hasPrefix(NSTemporaryDirectory() + "mserve-temporary-test-"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
            let mode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int
            #expect(mode == 0o700)
            try Self.fill(directory)
            return directory
        }
        #expect(!Self.exists(path))
    }

    @Test func theDirectoryIsGoneWhenTheBodyThrows() throws {
        var path = ""
        #expect(throws: Thrown.self) {
            try withTemporaryDirectory("mserve-temporary-test") { directory in
                path = directory
                try Self.fill(directory)
                throw Thrown()
            }
        }
        #expect(!path.isEmpty)
        #expect(!Self.exists(path))
    }

    @Test func anAsyncBodyIsCleanedUpAfterToo() async throws {
        let path = try await withTemporaryDirectory("mserve-temporary-test") { directory in
            try await Task.sleep(for: .milliseconds(1))
            try Self.fill(directory)
            return directory
        }
        #expect(!Self.exists(path))
        var thrownPath = ""
        await #expect(throws: Thrown.self) {
            try await withTemporaryDirectory("mserve-temporary-test") { directory in
                thrownPath = directory
                try await Task.sleep(for: .milliseconds(1))
                try Self.fill(directory)
                throw Thrown()
            }
        }
        #expect(!thrownPath.isEmpty)
        #expect(!Self.exists(thrownPath))
    }

    /// A test of a refusal may leave a directory its owner cannot read or write: it goes too.
    @Test func aDirectoryTheTestMadeUnwritableIsRemovedToo() throws {
        let path = try withTemporaryDirectory("mserve-temporary-test") { directory in
            try Self.fill(directory)
            try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: directory + "/sub")
            try FileManager.default.createDirectory(
                atPath: directory + "/closed", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            try Data("z".utf8).write(to: URL(fileURLWithPath: directory + "/closed/file"))
            try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: directory + "/closed")
            return directory
        }
        #expect(!Self.exists(path))
    }
}

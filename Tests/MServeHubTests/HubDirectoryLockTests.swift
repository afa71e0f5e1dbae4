import Foundation
import MServeTestSupport
import Testing

@testable import MServeHub

/// The lock a serving hub holds on its directory: `hub.lock`, a regular file of the directory's
/// own, never one a link leads to.
struct HubDirectoryLockTests {
    @Test func theLockFileNamesTheHolderAndIsEmptiedAtRelease() throws {
        try withTemporaryDirectory("mserve-hub-lock") { directory in
            let lock = try HubDirectoryLock(directory: directory, endpoint: "tcp://127.0.0.1:5560")
            #expect(try String(contentsOfFile: directory + "/hub.lock", encoding: .utf8) == "pid \(getpid()) serving tcp://127.0.0.1:5560\n")
            let error = #expect(throws: HubError.self) { _ = try HubDirectoryLock(directory: directory, endpoint: "tcp://127.0.0.1:5561") }
            #expect(error?.code == .directoryInUse)
            #expect(error?.message.contains("(pid \(getpid()) serving tcp://127.0.0.1:5560)") == true, "\(String(describing: error))")
            lock.release()
            #expect(try String(contentsOfFile: directory + "/hub.lock", encoding: .utf8) == "")
        }
    }

    /// A link in place of `hub.lock` (to a file of the hub's user elsewhere, or to nowhere) is
    /// refused: the hub neither writes the file it leads to nor creates one there. So is
    /// anything else that is not a regular file.
    @Test func aLockFileThatIsALinkOrNoRegularFileIsRefusedAndNothingIsWrittenThroughIt() throws {
        try withTemporaryDirectory("mserve-hub-lock") { directory in
            let target = directory + "/precious"
            try Data("keep me\n".utf8).write(to: URL(fileURLWithPath: target))
            let lockPath = directory + "/hub.lock"
            let advice = "remove it, and the hub makes the file itself"
            for (leadsTo, exists) in [(target, true), (directory + "/nowhere", false)] {
                try FileManager.default.createSymbolicLink(atPath: lockPath, withDestinationPath: leadsTo)
                let error = #expect(throws: HubError.self) { _ = try HubDirectoryLock(directory: directory, endpoint: "tcp://127.0.0.1:5560") }
                #expect(
                    error?.message == "cannot use \(lockPath) as a lock file: it is a symbolic link, not a regular file; \(advice)",
                    "\(String(describing: error))")
                #expect(FileManager.default.fileExists(atPath: leadsTo) == exists)
                try FileManager.default.removeItem(atPath: lockPath)
            }
            #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep me\n")

            // A hard link is another name of the file elsewhere: written through as well.
            #expect(link(target, lockPath) == 0)
            let hardLink = #expect(throws: HubError.self) { _ = try HubDirectoryLock(directory: directory, endpoint: "tcp://127.0.0.1:5560") }
            #expect(
                hardLink?.message
                    == "cannot use \(lockPath) as a lock file: it has 2 names (hard links), and a write would change the file under the others too; \(advice)",
                "\(String(describing: hardLink))")
            #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep me\n")
            try FileManager.default.removeItem(atPath: lockPath)

            #expect(mkfifo(lockPath, 0o600) == 0)
            let fifo = #expect(throws: HubError.self) { _ = try HubDirectoryLock(directory: directory, endpoint: "tcp://127.0.0.1:5560") }
            #expect(
                fifo?.message == "cannot use \(lockPath) as a lock file: it is a FIFO (named pipe), not a regular file; \(advice)",
                "\(String(describing: fifo))")
        }
    }
}

import Foundation
import POSIXFiles
import Synchronization
import Testing
import ZeroMQ

@Suite(.enabled(if: ZMQ.has("curve"), "libzmq built without CURVE"))
struct ZMQCurveKeysTests {
    @Test func createWritesASecretFileOnlyTheOwnerReadsAndAPublicFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let directory = ZMQKeyDirectory(path: path)
        let created = try directory.create("servant")

        let attributes = try FileManager.default.attributesOfItem(atPath: directory.secretKeyPath("servant"))
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try directory.keyPair("servant") == created)
        #expect(try directory.publicKey("servant") == created.publicKey)
        #expect(throws: ZMQKeyFileError.self) { try directory.create("servant") }
        #expect(throws: ZMQKeyFileError.self) { try directory.publicKey("nobody") }
    }

    /// A key directory others may write, or another user owns, could hold their hub.pub and
    /// their keys: no key is read from it, and the message names the fix.
    @Test func aKeyDirectoryOthersControlIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let directory = ZMQKeyDirectory(path: path)
        let created = try directory.create("servant")
        for mode in [mode_t(0o775), 0o757, 0o1777] {
            #expect(chmod(path, mode) == 0)
            let error = #expect(throws: ZMQKeyFileError.self) { try directory.keyPair("servant") }
            #expect(error?.message.hasPrefix("the key directory \(path) has mode \(POSIXFile.octal(UInt32(mode))), so ") == true, "\(String(describing: error))")
            // A sticky directory is shared on purpose (/tmp): the fix is to move the keys.
            let fix = mode & 0o1000 == 0
                ? "run chmod go-w \(path)"
                : "so leave its mode and move the keys to a directory only "
                    + "\(POSIXFile.effectiveUserID == 0 ? "root" : "root or this process's user") may write"
            #expect(error?.message.hasSuffix(fix) == true, "\(String(describing: error))")
        }
        #expect(chmod(path, 0o755) == 0)
        #expect(try directory.keyPair("servant") == created)
        if geteuid() == 0 {
            #expect(chown(path, 65_534, 65_534) == 0)
            let error = #expect(throws: ZMQKeyFileError.self) { try directory.keyPair("servant") }
            #expect(error?.message.hasPrefix("the key directory \(path) belongs to uid 65534") == true, "\(String(describing: error))")
            #expect(chown(path, 0, 0) == 0)
            #expect(try directory.keyPair("servant") == created)
        }
    }

    /// Another local user watching the key directory never finds a secret key, under any name
    /// (the final one or a temporary one), that the group or others may read: the file is
    /// created 0600, not made 0600 after it was written.
    @Test func noSecretKeyIsEverReadableByOthersWhileKeysAreMade() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let directory = ZMQKeyDirectory(path: path)
        let done = Atomic<Bool>(false)
        let making = Atomic<Int>(-1)
        let exposed = Mutex<[String]>([])
        @Sendable func check(_ file: String) {
            guard let mode = try? POSIXFile.permissions(atPath: file), mode & 0o077 != 0 else { return }
            exposed.withLock { $0.append("\((file as NSString).lastPathComponent) \(POSIXFile.octal(mode))") }
        }
        let watcher = Thread {
            var round = 0
            while !done.load(ordering: .relaxed) {
                // The key being made, as often as possible; now and then every file in the
                // directory but the public halves, whatever its name (temporary ones too).
                let index = making.load(ordering: .relaxed)
                if index >= 0 { check(directory.secretKeyPath("key\(index)")) }
                round += 1
                guard round % 64 == 0 else { continue }
                for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where !name.contains(".pub") {
                    check(path + "/" + name)
                }
            }
        }
        watcher.start()
        for index in 0..<60 {
            making.store(index, ordering: .relaxed)
            try directory.create("key\(index)")
        }
        done.store(true, ordering: .relaxed)
        while !watcher.isFinished { try await Task.sleep(for: .milliseconds(10)) }
        #expect(exposed.withLock { $0 }.isEmpty, "readable by others while written: \(exposed.withLock { $0 })")
        for index in 0..<60 {
            #expect(try POSIXFile.permissions(atPath: directory.secretKeyPath("key\(index)")) == 0o600)
            #expect(try POSIXFile.permissions(atPath: directory.publicKeyPath("key\(index)")) == 0o644)
        }
    }

    /// As ssh does with a private key, a secret key file the group or others may read or write
    /// is refused, naming the file, its mode and the fix; one only its owner may use is read.
    @Test(arguments: [
        (UInt32(0o644), "its group may read it and other users may read it"), (0o640, "its group may read it"),
        (0o604, "other users may read it"), (0o620, "its group may write it"), (0o602, "other users may write it"),
        (0o666, "its group may read and write it and other users may read and write it"),
    ])
    func aSecretKeyFileOthersMayUseIsRefused(mode: UInt32, exposure: String) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let directory = ZMQKeyDirectory(path: path)
        let created = try directory.create("servant")
        let file = directory.secretKeyPath("servant")
        try FileManager.default.setAttributes([.posixPermissions: NSNumber(value: mode)], ofItemAtPath: file)
        let error = #expect(throws: ZMQKeyFileError.self) { try directory.keyPair("servant") }
        #expect(
            error?.message
                == "the secret key file \(file) has mode \(POSIXFile.octal(mode)), so \(exposure): "
                + "a secret key must be readable by its owner only; run chmod 600 \(file)")
        try FileManager.default.setAttributes([.posixPermissions: NSNumber(value: 0o400)], ofItemAtPath: file)
        #expect(try directory.keyPair("servant") == created)
    }

    /// `mserve hub allow` reads its file with `readPublicKey`, which takes a public key file and
    /// refuses what looks like a secret key under another name: a `.key` file, a link to one, a
    /// copy that kept its owner-only mode, a copy made readable that holds the same key as a
    /// `.key` file beside it, and a file holding no Z85 key.
    @Test func aSecretKeyIsRefusedAsAPublicKeyUnderAnyName() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let directory = ZMQKeyDirectory(path: path)
        let created = try directory.create("client")
        let secretFile = directory.secretKeyPath("client")
        #expect(try ZMQKeyDirectory.readPublicKey(at: directory.publicKeyPath("client")) == created.publicKey)

        func refusal(_ file: String) -> String? {
            #expect(throws: ZMQKeyFileError.self) { try ZMQKeyDirectory.readPublicKey(at: file) }?.message
        }
        #expect(refusal(secretFile)?.contains("is a secret key file") == true)
        let link = path + "/link.pub"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: secretFile)
        #expect(refusal(link)?.contains("(it links to \(secretFile))") == true)
        // cp keeps the mode: 0600.
        let copy = path + "/misnamed.pub"
        try FileManager.default.copyItem(atPath: secretFile, toPath: copy)
        try FileManager.default.setAttributes([.posixPermissions: NSNumber(value: 0o600)], ofItemAtPath: copy)
        #expect(refusal(copy)?.contains("readable by its owner only") == true)
        try FileManager.default.setAttributes([.posixPermissions: NSNumber(value: 0o644)], ofItemAtPath: copy)
        #expect(refusal(copy) == "\(copy) holds the secret key of \(secretFile): give the public key file (NAME.pub); a secret key must never leave its host")
        // 40 characters, not of Z85's alphabet.
        let quotes = path + "/quotes.pub"
        try POSIXFile.create(atPath: quotes, contents: Array(String(repeating: "\"", count: 40).utf8), permissions: 0o644)
        #expect(refusal(quotes)?.contains("does not hold a 40-character Z85 key") == true)
    }

    /// A FIFO named like a secret key beside the file (anyone may make one in /tmp) is not
    /// opened, so it cannot block the read; and a public key given through a pipe (`<(…)`,
    /// whose mode is 0600 whatever it carries) is read.
    @Test func pipesAreNeitherWaitedOnNorJudgedByTheirMode() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let directory = ZMQKeyDirectory(path: path)
        let created = try directory.create("client")
        #expect(mkfifo(path + "/trap.key", 0o600) == 0)
        #expect(try ZMQKeyDirectory.readPublicKey(at: directory.publicKeyPath("client")) == created.publicKey)

        // What `<(cat client.pub)` hands over: /dev/fd/N, a pipe its writer has filled.
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]) }
        _ = Array((created.publicKey + "\n").utf8).withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) }
        close(ends[1])
        #expect(try ZMQKeyDirectory.readPublicKey(at: "/dev/fd/\(ends[0])") == created.publicKey)

        // A named FIFO nobody writes to holds no key, and is not waited on.
        let unwritten = path + "/unwritten.pub"
        #expect(mkfifo(unwritten, 0o644) == 0)
        let error = #expect(throws: ZMQKeyFileError.self) { try ZMQKeyDirectory.readPublicKey(at: unwritten) }
        #expect(error?.message == "\(unwritten) does not hold a 40-character Z85 key")
    }

    /// A key directory's `NAME.key` or `NAME.pub` that is a FIFO (mode 0600 passes the mode
    /// check) or another file that is not a regular file is refused at once, naming it, never
    /// waited on.
    @Test func aKeyFileThatIsNotARegularFileIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let directory = ZMQKeyDirectory(path: path)
        #expect(mkfifo(directory.secretKeyPath("client"), 0o600) == 0)
        #expect(mkfifo(directory.publicKeyPath("broker"), 0o644) == 0)
        try FileManager.default.createSymbolicLink(atPath: directory.publicKeyPath("zero"), withDestinationPath: "/dev/zero")

        let secret = #expect(throws: ZMQKeyFileError.self) { try directory.keyPair("client") }
        #expect(
            secret?.message
                == "cannot read the key file \(directory.secretKeyPath("client")): it is a FIFO (named pipe), not a regular file")
        let pub = #expect(throws: (any Error).self) { try directory.publicKey("broker") }
        #expect(
            (pub as? ZMQKeyFileError)?.message
                == "cannot read the key file \(directory.publicKeyPath("broker")): it is a FIFO (named pipe), not a regular file")
        let device = #expect(throws: (any Error).self) { try directory.publicKey("zero") }
        #expect(
            (device as? ZMQKeyFileError)?.message
                == "cannot read the key file \(directory.publicKeyPath("zero")): it is a character device, not a regular file")
    }

    @Test func z85KeysAreFortyCharactersOfItsAlphabet() throws {
        #expect(isZ85Key(try ZMQCurveKeyPair.generate().publicKey))
        #expect(!isZ85Key(String(repeating: "\"", count: 40)))
        #expect(!isZ85Key(String(repeating: "a", count: 39)))
        #expect(!isZ85Key(String(repeating: "a", count: 39) + "\n"))
        #expect(isZ85Key(String(repeating: "#", count: 40)))
    }

    @Test(arguments: ["../escape", "a/b", "", ".hidden", "name with space", "/abs"])
    func createRefusesANameThatIsNoPlainFileName(name: String) throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let directory = ZMQKeyDirectory(path: parent + "/keys")
        #expect(throws: ZMQKeyFileError.self) { try directory.create(name) }
        // Nothing was written, inside the directory or beside it.
        #expect((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] == [])
    }

    @Test func plainNamesAreValid() {
        for name in ["hub", "broker", "servant-2", "host_a.servant"] {
            #expect(ZMQKeyDirectory.isValidName(name), "\(name)")
        }
    }
}

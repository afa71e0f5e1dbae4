import Foundation
import POSIXFiles

/// A CURVE key pair, both halves Z85-encoded (40 characters each).
public struct ZMQCurveKeyPair: Sendable, Hashable {
    /// The public key: give it to peers.
    public var publicKey: String
    /// The secret key: keep it to yourself.
    public var secretKey: String

    /// A new random key pair.
    public static func generate() throws(ZMQError) -> ZMQCurveKeyPair {
        let pair = try ZMQ.curveKeyPair()
        return ZMQCurveKeyPair(publicKey: pair.publicKey, secretKey: pair.secretKey)
    }

    /// Creates a pair from its halves.
    public init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }
}

/// A directory of CURVE key files: `NAME.key` holds a secret key (mode 0600), `NAME.pub` the
/// matching public key, each as one line of Z85 text.
public struct ZMQKeyDirectory: Sendable, Hashable {
    /// The directory.
    public var path: String

    /// Names the key directory at `path`.
    public init(path: String) { self.path = path }

    /// The path of `NAME.key`.
    public func secretKeyPath(_ name: String) -> String { (path as NSString).appendingPathComponent("\(name).key") }

    /// The path of `NAME.pub`.
    public func publicKeyPath(_ name: String) -> String { (path as NSString).appendingPathComponent("\(name).pub") }

    /// Whether `name` can name a key pair: letters, digits, `-`, `_` and `.`, not starting
    /// with `.`, so that its files stay inside the directory.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first != UInt8(ascii: ".") else { return false }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                return true
            default:
                return false
            }
        }
    }

    /// Writes a new key pair as `NAME.key` (0600) and `NAME.pub` (0644), refusing to overwrite
    /// and refusing a name that is not ``isValidName(_:)``. The secret key's file is created
    /// with mode 0600 from its first instant, whatever the umask (``POSIXFile/create(atPath:contents:permissions:)``):
    /// no other user can read it while it is written.
    @discardableResult
    public func create(_ name: String) throws -> ZMQCurveKeyPair {
        guard Self.isValidName(name) else {
            throw ZMQKeyFileError(
                "'\(name)' cannot name a key: use letters, digits, '-', '_' and '.', not starting with '.'")
        }
        let pair = try ZMQCurveKeyPair.generate()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for file in [secretKeyPath(name), publicKeyPath(name)] where FileManager.default.fileExists(atPath: file) {
            throw ZMQKeyFileError("\(file) exists; remove it first to make a new key")
        }
        try Self.write(pair.secretKey, to: secretKeyPath(name), permissions: Self.secretKeyPermissions)
        do {
            try Self.write(pair.publicKey, to: publicKeyPath(name), permissions: 0o644)
        } catch {
            // Half a pair is no pair: the next attempt must not find the secret key in its way.
            try? FileManager.default.removeItem(atPath: secretKeyPath(name))
            throw error
        }
        return pair
    }

    /// Refuses a key directory that belongs to a user other than root or this process's, or that
    /// its group or other users may write (a sticky one, like /tmp, included), as the hub
    /// directory is refused: whoever may write it could put their own `hub.pub` there (and so
    /// the hub this process trusts) or their own key pairs. A directory given as a symbolic
    /// link is judged by the directory it leads to. A directory that cannot be examined (it
    /// does not exist, say) is left to the key file's read, whose error says why. A sticky
    /// directory shared on purpose (/tmp) is named with the fix of moving the keys, not of
    /// changing its mode. `mserve keys new` refuses to write keys into such a directory too.
    public func refuseDirectoryOthersControl() throws(ZMQKeyFileError) {
        let trusted = [0, POSIXFile.effectiveUserID]
        guard let control = try? POSIXFile.outsideControl(atPath: path, trustedOwners: trusted),
            let refusal = POSIXFile.refusal(
                of: control, name: "the key directory \(path)", at: path, isDirectory: true,
                harm: "replace its keys and hub.pub (the hub this process trusts)",
                otherwise: "give a key directory of this user's own", moving: "the keys")
        else { return }
        throw ZMQKeyFileError(refusal)
    }

    /// The permission bits `NAME.key` is written with: read and write for its owner only.
    public static let secretKeyPermissions: UInt32 = 0o600

    /// Writes `key` and a newline as the new file `file`, with `permissions` from the start.
    private static func write(_ key: String, to file: String, permissions: UInt32) throws(ZMQKeyFileError) {
        do {
            try POSIXFile.create(atPath: file, contents: Array((key + "\n").utf8), permissions: permissions)
        } catch where error.code == .exists {
            throw ZMQKeyFileError("\(file) exists; remove it first to make a new key")
        } catch {
            throw ZMQKeyFileError(error.message)
        }
    }

    /// Reads `NAME.key` and derives its public key. As ssh does with a private key, refuses a
    /// key file that its group or other users may read or write (any of the bits 0o077): the
    /// error names the file, its mode and the fix (`chmod 600 FILE`). Refuses first a key
    /// directory others control (``refuseDirectoryOthersControl()``).
    public func keyPair(_ name: String) throws -> ZMQCurveKeyPair {
        try refuseDirectoryOthersControl()
        let secret = try Self.readSecretKey(at: secretKeyPath(name))
        return ZMQCurveKeyPair(publicKey: try ZMQ.curvePublicKey(fromSecret: secret), secretKey: secret)
    }

    /// Reads `NAME.pub`.
    public func publicKey(_ name: String) throws -> String {
        try Self.readKey(at: publicKeyPath(name))
    }

    /// Reads a one-line Z85 key file (a `.pub`, or a `.key` whose public half is derived by the
    /// caller): a regular file of at most 4 KiB (a FIFO is refused, not waited on).
    public static func readKey(at file: String) throws -> String {
        try key(in: try contentsOfKeyFile(file).bytes, of: file)
    }

    /// Reads a public key file a user named (`mserve hub allow NAME FILE`), refusing what looks
    /// like a secret key: the two are both one Z85 line, and a secret key sent to the hub by a
    /// slip would be stored and shown there. Refused: a file whose name ends in `.key`, or a link
    /// to one; a file only its owner may read (`mserve keys new` writes `NAME.pub` readable by
    /// all, 0644, and `NAME.key` by its owner only, 0600, and `cp` keeps the mode of what it
    /// copies; a pipe's mode says nothing and is not asked); a file holding the same key as a
    /// `.key` file of this user's beside it or beside the file it links to. Refused as well: a
    /// file another user could have changed or replaced (``refuseKeyFileOthersControl(_:read:)``),
    /// whose key would be admitted in the name and role given.
    public static func readPublicKey(at file: String) throws -> String {
        let resolved = URL(fileURLWithPath: file).resolvingSymlinksInPath().path
        if file.hasSuffix(".key") || resolved.hasSuffix(".key") {
            throw ZMQKeyFileError(
                "\(file) is a secret key file\(resolved == file ? "" : " (it links to \(resolved))"): give the public "
                    + "key file (NAME.pub); a secret key must never leave its host")
        }
        let contents = try contentsOfKeyFile(file, acceptingPipes: true)
        // A pipe (`<(cat key.pub)`) has mode 0600 whatever it carries: only a file's mode says.
        guard !contents.isRegularFile || contents.permissions & 0o044 != 0 else {
            throw ZMQKeyFileError(
                "\(file) has mode \(POSIXFile.octal(contents.permissions)), readable by its owner only, as a secret key "
                    + "file is (mserve keys new writes NAME.pub readable by all): give the public key file (NAME.pub); "
                    + "if this is one, run chmod 644 \(file)")
        }
        try refuseKeyFileOthersControl(file, read: contents)
        let key = try key(in: contents.bytes, of: file)
        let directories = Set([file, resolved].map { URL(fileURLWithPath: $0).deletingLastPathComponent().path })
        if let secretFile = secretKeyFile(holding: key, in: directories) {
            throw ZMQKeyFileError(
                "\(file) holds the secret key of \(secretFile): give the public key file (NAME.pub); a secret key "
                    + "must never leave its host")
        }
        return key
    }

    /// Refuses a public key file, as read (`contents`), that a user other than root or this
    /// process's could have changed or replaced, as a users file or a plugin is judged: the
    /// file (a named pipe too) or the directory holding it belongs to another user, or its
    /// group or other users may write it (a sticky directory such as /tmp included), or it is
    /// reached through a link in such a directory. Whoever could would have their own key
    /// admitted under the name and role given (a servant key getting the queries, say).
    private static func refuseKeyFileOthersControl(_ file: String, read contents: FileContents) throws(ZMQKeyFileError) {
        let resolved = POSIXFile.resolvedPath(file) ?? file
        if let refusal = POSIXFile.linkRefusal(given: file, resolved: resolved, what: "public key file") {
            throw ZMQKeyFileError(refusal)
        }
        if let refusal = POSIXFile.controlRefusal(
            atPath: resolved, what: "public key file", shownAs: resolved == file ? file : "\(file) (a link to \(resolved))",
            read: contents, fileHarm: "put their own key in it (and have it admitted in this name and role)",
            directoryHarm: "put a key file of their own in its place (and have their key admitted)",
            otherwise: "give a public key file of this user's own")
        {
            throw ZMQKeyFileError(refusal)
        }
    }

    /// The first `.key` file in `directories` (this user's regular files only, never followed:
    /// a FIFO or a device named `x.key`, in /tmp say, would block the read) that holds `key`.
    private static func secretKeyFile(holding key: String, in directories: Set<String>) -> String? {
        for directory in directories.sorted() {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for name in names.sorted() where name.hasSuffix(".key") {
                let secretFile = URL(fileURLWithPath: directory).appendingPathComponent(name).path
                guard let attributes = try? FileManager.default.attributesOfItem(atPath: secretFile),
                    attributes[.type] as? FileAttributeType == .typeRegular,
                    (attributes[.ownerAccountID] as? NSNumber)?.uint32Value == geteuid(),
                    let secret = try? contentsOfKeyFile(secretFile),
                    (try? Self.key(in: secret.bytes, of: secretFile)) == key
                else { continue }
                return secretFile
            }
        }
        return nil
    }

    /// The bytes and mode of a key file (at most 4 KiB), or the reason it cannot be read. Only
    /// a regular file, or with `acceptingPipes` also a pipe; never waited on (``POSIXFile/read(atPath:limit:acceptingPipes:)``).
    private static func contentsOfKeyFile(
        _ file: String, acceptingPipes: Bool = false
    ) throws(ZMQKeyFileError) -> FileContents {
        do {
            return try POSIXFile.read(atPath: file, limit: 4096, acceptingPipes: acceptingPipes)
        } catch {
            throw ZMQKeyFileError("cannot read the key file \(file): \(error.reason)\(unenterableDirectory(of: file, error))")
        }
    }

    /// For a key file this user may not open because it may not enter the directory holding
    /// it (a key directory root made, 0700, shared with a service's own user), what to change;
    /// empty otherwise.
    private static func unenterableDirectory(of file: String, _ error: FileError) -> String {
        guard error.systemErrorNumber == EACCES else { return "" }
        let directory = POSIXFile.directory(holding: file)
        var status = stat()
        guard access(directory, X_OK) != 0, stat(directory, &status) == 0 else { return "" }
        return "; this user (uid \(geteuid())) may not enter the directory \(directory) (mode "
            + "\(POSIXFile.octal(UInt32(status.st_mode) & 0o7777)), owned by uid \(status.st_uid)): let it in "
            + "(chmod 755 \(directory): the secret keys in it stay readable by their owners alone), "
            + "or give this user a key directory of its own"
    }

    /// Reads a secret key file, refusing one whose group or other users have any permission on
    /// it. The mode checked is that of the very file read.
    public static func readSecretKey(at file: String) throws(ZMQKeyFileError) -> String {
        let contents = try contentsOfKeyFile(file)
        guard contents.permissions & 0o077 == 0 else {
            throw ZMQKeyFileError(
                "the secret key file \(file) has mode \(POSIXFile.octal(contents.permissions)), so "
                    + "\(POSIXFile.exposure(contents.permissions)): a secret key must be readable by its owner only; "
                    + "run chmod 600 \(file)")
        }
        return try key(in: contents.bytes, of: file)
    }

    /// The Z85 key a key file holds: one line of 40 characters.
    private static func key(in bytes: [UInt8], of file: String) throws(ZMQKeyFileError) -> String {
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard isZ85Key(text) else { throw ZMQKeyFileError("\(file) does not hold a 40-character Z85 key") }
        return text
    }
}

/// What a CURVE client needs: the server's public key and its own key pair.
public struct ZMQCurveClientKeys: Sendable, Hashable {
    /// The server's public key (Z85).
    public var serverPublicKey: String
    /// The client's own key pair.
    public var keyPair: ZMQCurveKeyPair

    /// Creates client keys.
    public init(serverPublicKey: String, keyPair: ZMQCurveKeyPair) {
        self.serverPublicKey = serverPublicKey
        self.keyPair = keyPair
    }
}

extension ZMQSocket {
    /// Makes the socket a CURVE client with `keys` (before connecting).
    public func setCurveClient(_ keys: ZMQCurveClientKeys, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setCurveClient(
            serverPublicKey: keys.serverPublicKey, publicKey: keys.keyPair.publicKey,
            secretKey: keys.keyPair.secretKey, file: file, line: line)
    }
}

/// Whether `text` is a CURVE key in Z85: 40 characters of the Z85 alphabet (ZeroMQ RFC 32).
public func isZ85Key(_ text: String) -> Bool {
    text.utf8.count == 40 && text.utf8.allSatisfy { z85Alphabet.contains($0) }
}

/// The 85 characters of Z85 (ZeroMQ RFC 32).
private let z85Alphabet = Set(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

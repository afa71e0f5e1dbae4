import Foundation

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

    /// Writes a new key pair as `NAME.key` (0600) and `NAME.pub`, refusing to overwrite and
    /// refusing a name that is not ``isValidName(_:)``.
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
        guard
            FileManager.default.createFile(
                atPath: secretKeyPath(name), contents: Data((pair.secretKey + "\n").utf8),
                attributes: [.posixPermissions: 0o600])
        else { throw ZMQKeyFileError("cannot write \(secretKeyPath(name))") }
        try Data((pair.publicKey + "\n").utf8).write(to: URL(fileURLWithPath: publicKeyPath(name)))
        return pair
    }

    /// Reads `NAME.key` and derives its public key.
    public func keyPair(_ name: String) throws -> ZMQCurveKeyPair {
        let secret = try Self.readKey(at: secretKeyPath(name))
        return ZMQCurveKeyPair(publicKey: try ZMQ.curvePublicKey(fromSecret: secret), secretKey: secret)
    }

    /// Reads `NAME.pub`.
    public func publicKey(_ name: String) throws -> String {
        try Self.readKey(at: publicKeyPath(name))
    }

    /// Reads a one-line Z85 key file (a `.pub`, or a `.key` whose public half is derived by the caller).
    public static func readKey(at file: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ZMQKeyFileError("cannot read the key file \(file)")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.utf8.count == 40 else { throw ZMQKeyFileError("\(file) does not hold a 40-character Z85 key") }
        return text
    }
}

/// A key file could not be read or written.
public struct ZMQKeyFileError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, naming the file.
    public var message: String
    /// Where it was raised.
    public var file: String
    /// Where it was raised.
    public var line: Int

    /// Creates an error at the caller's location.
    public init(_ message: String, file: String = #fileID, line: Int = #line) {
        self.message = message
        self.file = file
        self.line = line
    }

    /// The message.
    public var description: String { message }
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

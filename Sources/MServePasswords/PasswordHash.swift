import CPasswordCrypto

/// A password kept as a salted, slow hash: PBKDF2-HMAC-SHA256 with a random salt of its own and
/// the round count stored beside it, so that the count can be raised for new passwords while
/// old hashes still verify. Its text form, one word, is
///
///     pbkdf2-sha256$ROUNDS$SALT$HASH            (SALT and HASH in lower-case hex)
///     pbkdf2-sha256/sha1$ROUNDS$SALT$HASH       (the input is the hex SHA-1 of the password)
///     pbkdf2-sha256/sha256$ROUNDS$SALT$HASH     (the input is the hex SHA-256 of the password)
///
/// The two wrapped forms keep a password known only by its SHA digest (a kdb+ users-file line,
/// or a hub user stored by an older version) without ever storing the fast digest itself.
public struct PasswordHash: Sendable, Hashable, CustomStringConvertible {
    /// What PBKDF2 is given: the password, or the lower-case hex of a digest of it.
    public enum Input: String, Sendable, Hashable, CaseIterable {
        /// The password's UTF-8 bytes.
        case password = ""
        /// The lower-case hex SHA-1 of the password.
        case sha1Hex = "sha1"
        /// The lower-case hex SHA-256 of the password.
        case sha256Hex = "sha256"
    }

    /// What PBKDF2 is given.
    public var input: Input
    /// PBKDF2's round count.
    public var rounds: Int
    /// The salt, random for each hash.
    public var salt: [UInt8]
    /// PBKDF2's output, 32 bytes.
    public var hash: [UInt8]

    /// The rounds given to new hashes: OWASP's 2021 advice for PBKDF2-HMAC-SHA256. Stored with
    /// each hash, so raising it leaves existing hashes valid.
    public static let defaultRounds = 210_000
    /// The round counts a hash may have: fewer would be too fast to guess against; more would
    /// let a bad record keep a verifier busy for minutes.
    public static let roundsAllowed = 10_000...10_000_000
    /// Bytes of salt given to new hashes.
    public static let saltBytes = 16
    /// Bytes of PBKDF2 output kept.
    public static let hashBytes = 32
    /// The word every text form starts with.
    static let scheme = "pbkdf2-sha256"

    /// The hash of `password` (hashed as itself) with a fresh random salt; `rounds` is held to
    /// ``roundsAllowed``.
    public init(password: String, rounds: Int = defaultRounds) {
        self.init(input: .password, secret: Array(password.utf8), rounds: rounds)
    }

    /// The hash of a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) password digest, with a
    /// fresh random salt: a password later checks against it if its digest is `digest`.
    /// Nil when `digest` is neither.
    public init?(wrappingDigest digest: String, rounds: Int = defaultRounds) {
        let lower = digest.lowercased()
        guard PasswordDigest.bytes(hex: lower) != nil else { return nil }
        switch lower.count {
        case 40: self.init(input: .sha1Hex, secret: Array(lower.utf8), rounds: rounds)
        case 64: self.init(input: .sha256Hex, secret: Array(lower.utf8), rounds: rounds)
        default: return nil
        }
    }

    private init(input: Input, secret: [UInt8], rounds: Int) {
        let rounds = min(max(rounds, Self.roundsAllowed.lowerBound), Self.roundsAllowed.upperBound)
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<Self.saltBytes).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        self.input = input
        self.rounds = rounds
        self.salt = salt
        self.hash = Self.derive(secret, salt: salt, rounds: rounds)
    }

    /// Reads the text form; nil when `text` is not one (wrong scheme, rounds outside
    /// ``roundsAllowed``, salt shorter than 8 bytes, hash not 32 bytes).
    public init?(_ text: String) {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let kind = parts[0].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard kind[0] == Self.scheme, let input = Input(rawValue: kind.count == 2 ? String(kind[1]) : ""),
            kind.count == 1 || input != .password
        else { return nil }
        guard let rounds = Int(parts[1]), Self.roundsAllowed.contains(rounds),
            let salt = PasswordDigest.bytes(hex: String(parts[2])), (8...64).contains(salt.count),
            let hash = PasswordDigest.bytes(hex: String(parts[3])), hash.count == Self.hashBytes
        else { return nil }
        self.input = input
        self.rounds = rounds
        self.salt = salt
        self.hash = hash
    }

    /// The text form.
    public var description: String {
        let kind = input == .password ? Self.scheme : "\(Self.scheme)/\(input.rawValue)"
        return "\(kind)$\(rounds)$\(PasswordDigest.hex(salt))$\(PasswordDigest.hex(hash))"
    }

    /// Whether `password` hashes to this hash (slow by design: `rounds` HMAC-SHA256 rounds).
    /// The final comparison takes the same time wherever the hashes differ.
    public func verifies(password: String) -> Bool {
        let secret: [UInt8]
        switch input {
        case .password: secret = Array(password.utf8)
        case .sha1Hex: secret = Array(PasswordDigest.hex(PasswordDigest.sha1(Array(password.utf8))).utf8)
        case .sha256Hex: secret = Array(PasswordDigest.hex(PasswordDigest.sha256(Array(password.utf8))).utf8)
        }
        return PasswordDigest.constantTimeEqual(Self.derive(secret, salt: salt, rounds: rounds), hash)
    }

    /// PBKDF2's output; empty (which verifies nothing) in the case it fails, which only running
    /// out of memory could make it do: every parameter is held to valid values above.
    private static func derive(_ secret: [UInt8], salt: [UInt8], rounds: Int) -> [UInt8] {
        var key = [UInt8](repeating: 0, count: hashBytes)
        guard mserve_pbkdf2_sha256(secret, secret.count, salt, salt.count, UInt32(rounds), &key, hashBytes) == 1
        else { return [] }
        return key
    }
}

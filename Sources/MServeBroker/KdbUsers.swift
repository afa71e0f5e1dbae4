import Foundation

/// The users a kdb+ IPC client may log in as, read from a kdb+ `-u` style file: one
/// `user:password` per line, the password as plain text, or as the lower- or upper-case hex
/// SHA-1 (40 digits) or SHA-256 (64 digits) digest of the password. Blank lines and lines
/// starting with `/` (a q comment) are skipped.
public struct KdbUsers: Sendable, Hashable {
    /// Each user's stored password (plain text or a hex digest), by user name.
    public var passwords: [String: String]
    /// Whether a stored password may be plain text (a users file); false when every stored
    /// password is a digest (the hub's users), so that sending the digest itself does not log in.
    public var plainTextAllowed = true

    /// Users with these stored passwords.
    public init(passwords: [String: String]) {
        self.passwords = passwords
    }

    /// Users whose stored passwords are all hex SHA-1 or SHA-256 digests, by user name.
    public init(digests: [String: String]) {
        self.passwords = digests
        self.plainTextAllowed = false
    }

    /// Parses the text of a users file.
    public init(parsing text: String) throws(BrokerError) {
        var passwords: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("/") { continue }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw BrokerError(.configuration, "users file line \(number + 1): expected user:password")
            }
            passwords[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        self.passwords = passwords
    }

    /// Reads a users file.
    public init(contentsOf path: String) throws(BrokerError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw BrokerError(.configuration, "cannot read the users file \(path): \(error.localizedDescription)")
        }
        try self.init(parsing: text)
    }

    /// Whether `user` may log in with `password` (as the client sent it, in plain text).
    public func accepts(user: String, password: String) -> Bool {
        guard let stored = passwords[user] else { return false }
        if plainTextAllowed && stored == password { return true }
        let digest = stored.lowercased()
        guard digest.allSatisfy(\.isHexDigit) else { return false }
        switch digest.count {
        case 40: return PasswordDigest.hex(PasswordDigest.sha1(Array(password.utf8))) == digest
        case 64: return PasswordDigest.hex(PasswordDigest.sha256(Array(password.utf8))) == digest
        default: return false
        }
    }
}

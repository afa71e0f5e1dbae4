import CPasswordCrypto

/// SHA-1 and SHA-256 digests (OpenSSL's libcrypto), as kdb+ `-u` users files hold them, and a
/// comparison that takes the same time wherever two byte strings differ.
package enum PasswordDigest {
    /// The SHA-1 digest of `bytes` (20 bytes).
    package static func sha1(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 20)
        let done = mserve_sha1(bytes, bytes.count, &digest)
        precondition(done == 1, "libcrypto failed to compute a SHA-1 digest")
        return digest
    }

    /// The SHA-256 digest of `bytes` (32 bytes).
    package static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        let done = mserve_sha256(bytes, bytes.count, &digest)
        precondition(done == 1, "libcrypto failed to compute a SHA-256 digest")
        return digest
    }

    /// Lower-case hexadecimal text of `bytes`.
    package static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The bytes that the hexadecimal text `text` (either case) spells; nil for text of odd
    /// length or with a character that is not a hex digit.
    package static func bytes(hex text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count / 2)
        var index = 0
        while index < characters.count {
            guard let high = nibble(characters[index]), let low = nibble(characters[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    /// Whether `a` and `b` hold the same bytes, in a time that depends only on their lengths
    /// (not on where they first differ), so that a comparison with a secret leaks nothing of it.
    package static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// A keyed fingerprint of passwords, for remembering that a password was checked without
/// keeping it: HMAC-SHA256 under a random key made for this process only.
package struct PasswordFingerprinter: Sendable {
    /// The key's bytes.
    private let key: [UInt8]

    /// A fingerprinter with a fresh random 256-bit key.
    package init() {
        var generator = SystemRandomNumberGenerator()
        key = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// The fingerprint of `password` (32 bytes).
    package func fingerprint(_ password: String) -> [UInt8] {
        let message = Array(password.utf8)
        var code = [UInt8](repeating: 0, count: 32)
        let done = mserve_hmac_sha256(key, key.count, message, message.count, &code)
        precondition(done == 1, "libcrypto failed to compute an HMAC-SHA256")
        return code
    }
}

import MServePasswords
import Testing

/// The hub's password hashes: salted PBKDF2-HMAC-SHA256 whose text form carries its rounds.
struct PasswordHashTests {
    /// The few rounds allowed, so the tests run fast; the rounds are part of each hash.
    static let rounds = PasswordHash.roundsAllowed.lowerBound

    @Test func aPasswordVerifiesAgainstItsHashOnly() throws {
        let hash = PasswordHash(password: "wonderland", rounds: Self.rounds)
        #expect(hash.verifies(password: "wonderland"))
        #expect(!hash.verifies(password: "Wonderland"))
        #expect(!hash.verifies(password: ""))
        #expect(hash.salt.count == PasswordHash.saltBytes)
        #expect(hash.hash.count == PasswordHash.hashBytes)
    }

    @Test func eachHashHasItsOwnSalt() {
        let one = PasswordHash(password: "wonderland", rounds: Self.rounds)
        let two = PasswordHash(password: "wonderland", rounds: Self.rounds)
        #expect(one.salt != two.salt)
        #expect(one.hash != two.hash)
    }

    @Test func theTextFormRoundTripsWithItsRounds() throws {
        let hash = PasswordHash(password: "wonderland", rounds: Self.rounds + 1)
        let text = hash.description
        #expect(text.hasPrefix("pbkdf2-sha256$\(Self.rounds + 1)$"))
        let read = try #require(PasswordHash(text))
        #expect(read == hash)
        #expect(read.verifies(password: "wonderland"))
    }

    /// Vectors from Python's hashlib (OpenSSL): pbkdf2_hmac("sha256", P, b"saltsalt", 10000),
    /// P the password, or the hex SHA-1 of the password for the wrapped form.
    @Test(arguments: [
        ("pbkdf2-sha256", "password", "f00b02e07ff5e3b94594410c0a72f524cce210859a486bd72c1ee333830825a3"),
        ("pbkdf2-sha256/sha1", "secret", "4ad4d74964deb722a03d2e58a7a1fb9dbd168b4cea90c84996d83c286ab2d897"),
    ])
    func knownVectors(kind: String, password: String, hash: String) throws {
        let text = "\(kind)$10000$\(PasswordDigest.hex(Array("saltsalt".utf8)))$\(hash)"
        let read = try #require(PasswordHash(text))
        #expect(read.verifies(password: password))
        #expect(!read.verifies(password: password + "!"))
        #expect(read.description == text)
    }

    @Test func aDigestIsKeptInsideAHash() throws {
        let sha1OfSecret = "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"
        let sha256OfSecret = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
        let one = try #require(PasswordHash(wrappingDigest: sha1OfSecret.uppercased(), rounds: Self.rounds))
        let two = try #require(PasswordHash(wrappingDigest: sha256OfSecret, rounds: Self.rounds))
        #expect(one.input == .sha1Hex)
        #expect(two.input == .sha256Hex)
        #expect(one.description.hasPrefix("pbkdf2-sha256/sha1$"))
        #expect(two.description.hasPrefix("pbkdf2-sha256/sha256$"))
        // The password checks; the digest itself is no password.
        #expect(one.verifies(password: "secret"))
        #expect(two.verifies(password: "secret"))
        #expect(!one.verifies(password: sha1OfSecret))
        #expect(!two.verifies(password: sha256OfSecret))
        #expect(PasswordHash(wrappingDigest: "secret") == nil)
        #expect(PasswordHash(two.description) == two)
    }

    @Test(arguments: [
        "", "secret", "pbkdf2-sha256$10000$00112233445566778899aabbccddeeff",
        "pbkdf2-sha1$10000$00112233445566778899aabbccddeeff$" + String(repeating: "0", count: 64),
        "pbkdf2-sha256$9999$00112233445566778899aabbccddeeff$" + String(repeating: "0", count: 64),
        "pbkdf2-sha256$10000001$00112233445566778899aabbccddeeff$" + String(repeating: "0", count: 64),
        "pbkdf2-sha256$10000$0011$" + String(repeating: "0", count: 64),
        "pbkdf2-sha256$10000$00112233445566778899aabbccddeeff$" + String(repeating: "0", count: 62),
        "pbkdf2-sha256/md5$10000$00112233445566778899aabbccddeeff$" + String(repeating: "0", count: 64),
        "pbkdf2-sha256/$10000$00112233445566778899aabbccddeeff$" + String(repeating: "0", count: 64),
    ])
    func whatIsNotAHashIsRefused(text: String) {
        #expect(PasswordHash(text) == nil)
    }

    @Test func roundsOutsideTheAllowedRangeAreHeldToIt() {
        #expect(PasswordHash(password: "x", rounds: 0).rounds == PasswordHash.roundsAllowed.lowerBound)
    }
}

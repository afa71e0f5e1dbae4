import Testing

import MServePasswords

/// FIPS 180 example vectors.
struct PasswordDigestTests {
    @Test(arguments: [
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
    ])
    func sha1(input: String, expected: String) {
        #expect(PasswordDigest.hex(PasswordDigest.sha1(Array(input.utf8))) == expected)
    }

    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
    ])
    func sha256(input: String, expected: String) {
        #expect(PasswordDigest.hex(PasswordDigest.sha256(Array(input.utf8))) == expected)
    }

    @Test func aMillionAs() {
        let input = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(PasswordDigest.hex(PasswordDigest.sha1(input)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    @Test func hexRoundTripsAndRefusesWhatIsNotHex() {
        #expect(PasswordDigest.bytes(hex: "00fFa1") == [0x00, 0xFF, 0xA1])
        #expect(PasswordDigest.bytes(hex: "abc") == nil)
        #expect(PasswordDigest.bytes(hex: "zz") == nil)
        #expect(PasswordDigest.hex([0x00, 0xFF, 0xA1]) == "00ffa1")
    }

    @Test func constantTimeEqualityIsEquality() {
        #expect(PasswordDigest.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!PasswordDigest.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!PasswordDigest.constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(PasswordDigest.constantTimeEqual([], []))
    }

    @Test func fingerprintsAreKeyedPerFingerprinter() {
        let one = PasswordFingerprinter()
        #expect(one.fingerprint("secret") == one.fingerprint("secret"))
        #expect(one.fingerprint("secret") != one.fingerprint("Secret"))
        #expect(one.fingerprint("secret") != PasswordFingerprinter().fingerprint("secret"))
    }
}

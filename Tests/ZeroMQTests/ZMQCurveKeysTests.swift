import Foundation
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

import Foundation
import GRDB
@testable import MServeHub
import MServeTestSupport
import QData
import Testing
import ZeroMQ

/// Every allowed key has a role: the table stores it (keys from before roles become `any`),
/// ALLOW and KEYS carry it, and a process builds one admission list per use from it.
@Suite struct KeyRoleDatabaseTests {
    static let servantKey = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
    static let clientKey = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"

    @Test func theRoleIsStoredAndListed() throws {
        try withTemporaryDirectory("mserve-hub") { temporary in
            let directory = temporary + "/hub"
            let database = try HubDatabase(directory: directory)
            try database.allow(name: "servant", key: Self.servantKey, role: .servant, at: 1)
            try database.allow(name: "client", key: Self.clientKey, role: .client, at: 1)
            #expect(try HubDatabase(directory: directory).allowedKeys() == [
                AllowedKey(name: "client", key: Self.clientKey, role: .client),
                AllowedKey(name: "servant", key: Self.servantKey, role: .servant),
            ])
            // Allowing a name again replaces its role too.
            try database.allow(name: "servant", key: Self.servantKey, role: .any, at: 2)
            #expect(try database.allowedKeys().map(\.role) == [.client, .any])
        }
    }

    @Test func aKeyAllowedWithoutARoleIsAClient() throws {
        try withTemporaryDirectory("mserve-hub") { temporary in
            let directory = temporary + "/hub"
            let database = try HubDatabase(directory: directory)
            try database.allow(name: "plain", key: Self.clientKey, at: 1)
            #expect(try database.allowedKeys().map(\.role) == [.client])
            #expect(KeyRole.default == .client)
        }
    }

    @Test func anUnknownRoleIsRefused() throws {
        try withTemporaryDirectory("mserve-hub") { temporary in
            let directory = temporary + "/hub"
            let database = try HubDatabase(directory: directory)
            #expect {
                try database.allow(name: "odd", key: Self.clientKey, role: KeyRole(rawValue: "admin"), at: 1)
            } throws: { error in
                (error as? HubError)?.message.contains("unknown key role 'admin'") == true
            }
            #expect(try database.allowedKeys().isEmpty)
            #expect(throws: HubError.self) { try KeyRole(validating: "hub") }
            #expect(try KeyRole(validating: "broker") == .broker)
        }
    }

    /// A hub directory made before keys had roles: its keys open as `any` and new ones get roles.
    @Test func anOldSchemaDatabaseMigratesItsKeysToAny() throws {
        try withTemporaryDirectory("mserve-hub") { temporary in
            let directory = temporary + "/hub"
            _ = try HubDatabase(directory: directory)
            // Take the database back to the schema before roles, then list a key the old way.
            let path = (directory as NSString).appendingPathComponent("hub.sqlite")
            do {
                let queue = try DatabaseQueue(path: path)
                try queue.write { db in
                    try db.execute(sql: "ALTER TABLE allowed_keys DROP COLUMN role")
                    try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v5 key roles'")
                    try db.execute(
                        sql: "INSERT INTO allowed_keys (name, key, added) VALUES (?, ?, ?)",
                        arguments: ["servant", Self.servantKey, 1])
                }
                #expect(try queue.read { db in try db.columns(in: "allowed_keys").map(\.name) } == ["name", "key", "added"])
                try queue.close()
            }

            let database = try HubDatabase(directory: directory)
            #expect(try database.allowedKeys() == [AllowedKey(name: "servant", key: Self.servantKey, role: .any)])
            try database.allow(name: "client", key: Self.clientKey, role: .client, at: 2)
            #expect(try database.allowedKeys().map(\.role) == [.client, .any])
        }
    }

    @Test func aKeysAnswerWithoutRolesIsReadAsAny() throws {
        let names: [(String, QValue)] = [
            ("name", .vector(.symbol(["a", "b"]))), ("key", .vector(.symbol([Self.clientKey, Self.servantKey]))),
        ]
        #expect(try HubClient.keys(from: HubMessage(.keys, names)).map(\.role) == [.any, .any])
        let withRoles = names + [("role", .vector(.symbol(["client", "monitor"])))]
        #expect(try HubClient.keys(from: HubMessage(.keys, withRoles)).map(\.role) == [.client, KeyRole(rawValue: "monitor")])
        let mismatched = names + [("role", .vector(.symbol(["client"])))]
        #expect(throws: HubError.self) { try HubClient.keys(from: HubMessage(.keys, mismatched)) }
    }

    @Test func eachUseHasTheKeysWhoseRolePermitsIt() {
        let lists = AllowedKeyLists()
        #expect(lists.keys(permitting: .client).keys.isEmpty)
        lists.replace([
            AllowedKey(name: "c", key: "C", role: .client), AllowedKey(name: "s", key: "S", role: .servant),
            AllowedKey(name: "b", key: "B", role: .broker), AllowedKey(name: "a", key: "A", role: .any),
            AllowedKey(name: "m", key: "M", role: KeyRole(rawValue: "monitor")),
        ])
        #expect(lists.keys(permitting: .client).keys == ["C": "c", "A": "a"])
        #expect(lists.keys(permitting: .servant).keys == ["S": "s", "A": "a"])
        #expect(lists.keys(permitting: .broker).keys == ["B": "b", "A": "a"])
        #expect(lists.keys.count == 5)
    }
}

/// With security on, the hub admits every listed key, but takes a servant's registration only
/// from a key allowed as servant (or any) and a broker's only from one allowed as broker.
@Suite(.enabled(if: ZMQ.has("curve"), "libzmq built without CURVE"))
struct KeyRoleHubTests {
    func registration(role: String, port: Int32, key: String) -> HubMessage {
        var registration = SpokeRegistration.current(
            port: port, threads: 1, service: "roles", role: role, endpoint: "tcp://*:\(port)")
        registration.curveKey = key
        return HubMessage(.register, registration.entries)
    }

    @Test func allowCarriesTheRoleAndKeysListsIt() async throws {
        try await HubFixture.with { fixture in
            let (hub, task) = try await fixture.startHub()
            defer { hub.stop() }
            let broker = try ZMQCurveKeyPair.generate()
            let plain = try ZMQCurveKeyPair.generate()

            #expect(try await fixture.client.allow(name: "broker", key: broker.publicKey, role: .broker).map(\.role) == [.broker])
            // An ALLOW from an older mserve, with no role: a client key.
            _ = try await fixture.client.request(
                HubMessage(.allow, [("name", .atom(.symbol("plain"))), ("key", .atom(.symbol(plain.publicKey)))]))
            #expect(try await fixture.client.allowedKeys().map(\.role) == [.broker, .client])
            do {
                _ = try await fixture.client.request(
                    HubMessage(
                        .allow,
                        [
                            ("name", .atom(.symbol("odd"))), ("key", .atom(.symbol(plain.publicKey))),
                            ("role", .atom(.symbol("admin"))),
                        ]))
                Issue.record("the hub allowed a key in an unknown role")
            } catch let error as HubError {
                #expect(error.message.contains("unknown key role 'admin'"), "\(error.message)")
            }
            hub.stop()
            try await task.value
        }
    }

    @Test func onlyServantAndBrokerKeysRegisterAsSuch() async throws {
        // Its spokes register once and send no heartbeat: a busy machine must not see them
        // leave before they are resolved.
        try await HubFixture.withSecuredHub(liveness: .seconds(60)) { fixture, hubKeys in
            var pairs: [KeyRole: ZMQCurveKeyPair] = [:]
            for role in KeyRole.known {
                let pair = try ZMQCurveKeyPair.generate()
                pairs[role] = pair
                _ = try await fixture.curveClient(hubKeys).allow(name: role.rawValue, key: pair.publicKey, role: role)
            }
            func register(_ spokeRole: String, with role: KeyRole, port: Int32) async throws {
                let keys = pairs[role]!
                _ = try await fixture.curveClient(keys).request(registration(role: spokeRole, port: port, key: keys.publicKey))
            }
            func expectRefused(_ spokeRole: String, with role: KeyRole, port: Int32) async {
                do {
                    try await register(spokeRole, with: role, port: port)
                    Issue.record("a \(role) key registered as a \(spokeRole)")
                } catch let error as HubError {
                    #expect(error.message.contains("has role \(role)"), "\(error.message)")
                } catch {
                    Issue.record("\(error)")
                }
            }

            // Every listed key reaches the hub.
            for pair in pairs.values { _ = try await fixture.curveClient(pair).allowedKeys() }
            await expectRefused(SpokeRole.servant, with: .client, port: 41_701)
            await expectRefused(SpokeRole.servant, with: .broker, port: 41_702)
            await expectRefused(SpokeRole.broker, with: .client, port: 41_703)
            await expectRefused(SpokeRole.broker, with: .servant, port: 41_704)
            #expect(try await fixture.client(hubKeys).resolve("roles").isEmpty)
            #expect(try await fixture.client(hubKeys).resolve("roles", role: SpokeRole.broker).isEmpty)

            try await register(SpokeRole.servant, with: .servant, port: 41_705)
            try await register(SpokeRole.broker, with: .broker, port: 41_706)
            let servants = try await fixture.client(hubKeys).resolve("roles")
            #expect(servants.map(\.curveKey) == [pairs[.servant]!.publicKey])
            let brokers = try await fixture.client(hubKeys).resolve("roles", role: SpokeRole.broker)
            #expect(brokers.map(\.curveKey) == [pairs[.broker]!.publicKey])
        }
    }

    @Test func anAnyKeyRegistersInEveryRole() async throws {
        // Its spokes register once and send no heartbeat: a busy machine must not see them
        // leave before they are resolved.
        try await HubFixture.withSecuredHub(liveness: .seconds(30)) { fixture, hubKeys in
            let both = try ZMQCurveKeyPair.generate()
            _ = try await fixture.curveClient(hubKeys).allow(name: "both", key: both.publicKey, role: .any)
            // Two connections (two sessions) with the same key, one a servant, one a broker.
            _ = try await fixture.curveClient(both).request(registration(role: SpokeRole.servant, port: 41_711, key: both.publicKey))
            _ = try await fixture.curveClient(both).request(registration(role: SpokeRole.broker, port: 41_712, key: both.publicKey))
            #expect(try await fixture.client(hubKeys).resolve("roles").count == 1)
            #expect(try await fixture.client(hubKeys).resolve("roles", role: SpokeRole.broker).count == 1)
        }
    }
}

extension HubFixture {
    /// A client of this fixture's secured hub speaking with `keys` (the hub's own, usually).
    fileprivate func client(_ keys: ZMQCurveKeyPair) -> HubClient { curveClient(keys) }
}

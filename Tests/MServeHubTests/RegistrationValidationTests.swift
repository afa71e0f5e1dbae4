import Foundation
import MServeHub
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

/// The hub refuses a REGISTER no real process would send — a role outside the fixed set, a
/// pid that is no pid, a start time in the future, fields too long or holding control or
/// bidirectional formatting characters, an advertised host that is no host — with ERROR, and stores nothing; real registrations of every role still pass.
struct RegistrationValidationTests {
    static func registration(_ change: (inout SpokeRegistration) -> Void = { _ in }) -> SpokeRegistration {
        var registration = SpokeRegistration.current(
            port: 41_301, threads: 1, service: "dev", role: SpokeRole.servant, endpoint: "tcp://*:41301")
        change(&registration)
        return registration
    }

    static let refused: [(String, @Sendable (inout SpokeRegistration) -> Void)] = [
        ("an empty role", { $0.role = "" }),
        ("a role in the wrong case", { $0.role = "Servant" }),
        ("an unknown role", { $0.role = "admin" }),
        ("pid 0", { $0.pid = 0 }),
        ("a negative pid", { $0.pid = -5 }),
        ("a pid past pid_max", { $0.pid = Int64(Int32.max) + 1 }),
        ("a port past 65535", { $0.port = 70_000 }),
        ("negative threads", { $0.threads = -1 }),
        ("a start time an hour ahead", { $0.startTime = QueryClock.qTimestampNow() + 3_600_000_000_000 }),
        ("a host too long", { $0.host = String(repeating: "h", count: 256) }),
        ("a service too long", { $0.service = String(repeating: "s", count: 256) }),
        ("a command line too long", { $0.commandLine = String(repeating: "x", count: 4_097) }),
        ("a newline in the user", { $0.user = "root\nreason: forged" }),
        ("an escape in the command line", { $0.commandLine = "q \u{1B}[2J" }),
        ("a NUL in the directory", { $0.directory = "/tmp\u{0}" }),
        ("a right-to-left override in the host", { $0.host = "db1\u{202E}lam" }),
        ("a right-to-left isolate in the service", { $0.service = "dev\u{2067}" }),
        ("an advertise that is no host", { $0.advertisedHost = "evil.example:1234/x" }),
        // Registered, such a servant could never be resolved, or would be resolved at a port
        // other than the one it names.
        ("a servant without its port", { $0.port = 0 }),
        ("a servant whose endpoint names another port", { $0.endpoint = "tcp://127.0.0.1:41302" }),
    ]

    @Test func eachRefusalIsAnErrorAndNothingIsStored() throws {
        let now = QueryClock.qTimestampNow()
        try Self.registration().validate(nowTimestamp: now)
        for role in [SpokeRole.servant, SpokeRole.broker, SpokeRole.client, SpokeRole.hub] {
            try Self.registration { $0.role = role }.validate(nowTimestamp: now)
        }
        // A clock a few seconds ahead of the hub's is no forgery.
        try Self.registration { $0.startTime = now + 5_000_000_000 }.validate(nowTimestamp: now)
        // Zero-width joiners belong to real text: a Persian directory, an emoji in a name; an
        // IPv6 address with its zone is a host.
        try Self.registration { $0.directory = "/home/u/پروژه\u{200C}ها" }.validate(nowTimestamp: now)
        try Self.registration { $0.service = "lab \u{1F469}\u{200D}\u{1F52C}" }.validate(nowTimestamp: now)
        try Self.registration { $0.advertisedHost = "fe80::1%eth0" }.validate(nowTimestamp: now)
        // A client has no port; a servant's endpoint may name none, or the same port.
        try Self.registration { $0.role = SpokeRole.client; $0.port = 0; $0.endpoint = "" }.validate(nowTimestamp: now)
        try Self.registration { $0.endpoint = "" }.validate(nowTimestamp: now)
        try Self.registration { $0.endpoint = "kdb://[::1]:41301" }.validate(nowTimestamp: now)
        for (what, change) in Self.refused {
            #expect(throws: HubError.self, "\(what)") { try Self.registration(change).validate(nowTimestamp: now) }
        }
    }

    /// A field of another type than HUB.md gives, or a missing pid or role, is named as such,
    /// not read as a neutral value and refused for that value (`pid 0`, `role ''`).
    @Test(arguments: [
        ("pid", QValue.atom(.symbol("123")), "REGISTER with a pid of q type -11: expected an integer (a long)"),
        ("pid", .vector(.char(Array("123".utf8))), "REGISTER with a pid of q type 10: expected an integer (a long)"),
        ("port", .atom(.float(5.0)), "REGISTER with a port of q type -9: expected an integer (a long)"),
        ("role", .atom(.long(1)), "REGISTER with a role of q type -7: expected a symbol or a string"),
        ("service", .list([]), "REGISTER with a service of q type 0: expected a symbol or a string"),
    ] as [(String, QValue, String)])
    func aFieldOfTheWrongTypeIsNamed(field: String, value: QValue, message: String) throws {
        let body = Self.registration().entries.map { $0.0 == field ? ($0.0, value) : $0 }
        let error = #expect(throws: HubError.self) { try SpokeRegistration(message: HubMessage(.register, body)) }
        #expect(error?.message == message)
    }

    @Test(arguments: [
        ("pid", "REGISTER without a pid"),
        ("role", "REGISTER without a role (one of servant, broker, client, hub)"),
        ("session", "REGISTER without a session"),
    ])
    func aMissingFieldIsNamed(field: String, message: String) throws {
        let body = Self.registration().entries.filter { $0.0 != field }
        let error = #expect(throws: HubError.self) { try SpokeRegistration(message: HubMessage(.register, body)) }
        #expect(error?.message == message)
        // Any q integer type passes for an integer; a string passes for a symbol.
        let other = Self.registration().entries.map { entry -> (String, QValue) in
            switch entry.0 {
            case "pid": (entry.0, .atom(.int(4242)))
            case "service": (entry.0, .vector(.char(Array("dev".utf8))))
            default: entry
            }
        }
        let read = try SpokeRegistration(message: HubMessage(.register, other))
        #expect(read.pid == 4242)
        #expect(read.service == "dev")
    }

    /// A request whose body is past HubMessage.largestRequest (a REGISTER carrying a list of
    /// 100,000 extra names, say) is answered with ERROR and not read; a compressed one is judged
    /// by its plain size. A REGISTER of every text field at its longest is well within it.
    @Test func aRequestPastTheLimitIsRefusedUnread() async throws {
        try await HubFixture.with { fixture in
            let (hub, task) = try await fixture.startHub()
            defer { hub.stop() }
            try await fixture.withPeerSocket { socket in
                func ask(_ frames: [[UInt8]]) async throws -> HubMessage {
                    try socket.send(multipart: frames)
                    let answer = try #require(try await socket.receiveFrames(within: .seconds(10)), "the hub did not answer")
                    return try HubMessage(frames: answer)
                }
                let padded = HubMessage(
                    .register,
                    Self.registration { $0.session = "padded" }.entries + [("extra", .vector(.symbol((0..<100_000).map { "n\($0)" })))])
                let body = padded.frames[2]
                let refused = try await ask(padded.frames)
                #expect(refused.command == .error)
                #expect(refused.text("message") == "the body of REGISTER has \(body.count) bytes, over the limit of 65536")

                let repetitive = HubMessage(
                    .register,
                    Self.registration { $0.session = "repetitive" }.entries + [("extra", .vector(.char([UInt8](repeating: 0x61, count: 100_000))))]
                ).frames[2]
                let compressed = try #require(QIPC.compress(repetitive))
                #expect(compressed.count < HubMessage.largestRequest)
                let unpacked = try await ask([HubLink.protocolMarker, HubCommand.register.frame, compressed])
                #expect(unpacked.command == .error)
                #expect(
                    unpacked.text("message")?.contains("decompresses to \(repetitive.count) bytes, over the limit of 65536") == true,
                    "\(unpacked.text("message") ?? "")")
                #expect(try await fixture.client.table("spoke").rowCount == 0)

                let longest = Self.registration {
                    $0.commandLine = String(repeating: "x", count: SpokeRegistration.longestText)
                    $0.directory = String(repeating: "d", count: SpokeRegistration.longestText)
                    $0.host = String(repeating: "h", count: SpokeRegistration.longestName)
                    $0.user = String(repeating: "u", count: SpokeRegistration.longestName)
                    $0.service = String(repeating: "s", count: SpokeRegistration.longestName)
                    $0.endpoint = "tcp://" + String(repeating: "e", count: SpokeRegistration.longestName - 6)
                    $0.session = String(repeating: "i", count: SpokeRegistration.longestName)
                }
                let registered = try await ask(HubMessage(.register, longest.entries).frames)
                #expect(registered.command == .registered, "\(registered.text("message") ?? "")")
                hub.stop()
                try await task.value
            }
        }
    }

    @Test func theHubAnswersErrorToEachAndRegistersTheRealOnes() async throws {
        let recorder = LogRecorder()
        try await HubFixture.with { fixture in
            let (hub, task) = try await fixture.startHub(logger: recorder.logger(label: "hub"))
            defer { hub.stop() }
            try await fixture.withPeerSocket { socket in
                func ask(_ message: HubMessage) async throws -> HubMessage {
                    try socket.send(multipart: message.frames)
                    let frames = try #require(try await socket.receiveFrames(within: .seconds(10)), "the hub did not answer")
                    return try HubMessage(frames: frames)
                }
                for (what, change) in Self.refused {
                    let answer = try await ask(HubMessage(.register, Self.registration(change).entries))
                    #expect(answer.command == .error, "\(what)")
                    #expect(answer.text("message")?.hasPrefix("REGISTER with") == true, "\(what): \(answer.text("message") ?? "")")
                }
                // A forged reason for a crash report is refused the same way.
                let reason = try await ask(HubMessage(.deregister, [("reason", .vector(.char(Array("gone\n\u{1B}[31mforged".utf8))))]))
                #expect(reason.command == .error)
                #expect(try await fixture.client.table("spoke").rowCount == 0)
                #expect(try await fixture.client.table("down").rowCount == 0)
                #expect(recorder.messages.contains { $0.hasPrefix("refused a registration: REGISTER with") })

                for role in [SpokeRole.servant, SpokeRole.broker, SpokeRole.client, SpokeRole.hub] {
                    let answer = try await ask(HubMessage(.register, Self.registration { $0.role = role }.entries))
                    #expect(answer.command == .registered, "\(role): \(answer.text("message") ?? "")")
                }
                hub.stop()
                try await task.value
            }
        }
    }
}

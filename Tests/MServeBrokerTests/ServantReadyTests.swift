import Logging
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// What a servant's READY must carry for the broker to put it in dispatch (docs/PROTOCOL.md).
struct ServantReadyTests {
    @Test func aReadyWithoutAnIncarnationIsIgnoredWithOneWarningUntilAProperOneComes() async throws {
        let log = LogRecorder()
        // The query waits for the proper READY for as long as a loaded machine takes the test
        // to send it, not the default 5 s a query may wait for a ready servant.
        try await ScriptedBroker.run(
            servants: 1, configure: { $0.dispatch.servantWait = .seconds(120) }, logger: log.logger(label: "broker")
        ) { run in
            let servant = run.servants[0]
            let (broker, _) = try await servant.next(.hello)
            let warning = "ignored a READY without an incarnation"
            // No incarnation, a zero one, and no dictionary at all.
            try servant.send(to: broker, .ready, [QIPC.encode(InfoDictionary.dictionary([("capacity", .atom(.long(4)))]))])
            try servant.send(
                to: broker, .ready,
                [QIPC.encode(InfoDictionary.dictionary([("incarnation", .atom(.long(0))), ("capacity", .atom(.long(4)))]))])
            try servant.send(to: broker, .ready, [])
            try run.send(id: 1, "twice 1")
            #expect(await eventually { await run.broker.snapshot().queued == 1 })
            #expect(log.messages.filter { $0.hasPrefix(warning) }.count == 1, "\(log.messages)")
            #expect(await run.broker.snapshot().servants.map(\.state) == ["connecting"])

            // A READY with its incarnation puts it in dispatch, and the waiting query goes to it.
            try servant.send(to: broker, .ready, [ScriptedServant.readyInfo(capacity: 1, batch: nil)])
            let (_, query) = try await servant.next(.query)
            #expect(query.count == 2)
            #expect(await run.broker.snapshot().servants.map(\.state) == ["ready"])
        }
    }

    /// A connected servant whose every READY is refused is greeted at growing intervals, not at
    /// every heartbeat: each HELLO it answers costs the broker's loop the reading of a READY,
    /// up to 256 KiB, and each HELLO starts a new session at the servant.
    @Test func aServantWhoseReadiesAreRefusedIsGreetedLessAndLessOften() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.withOneServant(liveness: .seconds(60), log: log) { run, servant in
            var hellos = 0
            let until = ContinuousClock.now + .seconds(3)
            while ContinuousClock.now < until {
                guard let frames = try await servant.socket.receiveFrames(within: .milliseconds(200)),
                    frames.count >= 3, frames[2] == ServantCommand.hello.frame
                else { continue }
                hellos += 1
                try servant.send(to: frames[0], .ready, [Self.readyInfo([("capacity", .atom(.long(1)))])])
            }
            // Greeted at every heartbeat (100 ms), it would have had about 30.
            #expect((1...8).contains(hellos), "\(hellos) HELLOs in 3 s")
            #expect(await run.broker.snapshot().servants.map(\.state) == ["connecting"])
            #expect(log.messages.filter { $0.hasPrefix("ignored a READY without an incarnation") }.count == 1)
        }
    }

    /// A servant author fixing a READY step by step sees each mistake in turn: a refused READY
    /// is logged whenever its reason is not the last one logged, the same one again once a
    /// minute at most. Before, only a servant's first refused READY was ever logged.
    @Test func eachRefusedReadyIsLoggedWhenItsReasonChanges() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 1, logger: log.logger(label: "mserve.broker")) { run in
            let servant = run.servants[0]
            let (broker, _) = try await servant.next(.hello)
            let notADictionary = QIPC.encode(.list([.atom(.long(1)), .atom(.symbol("a"))]))
            let anAtom = QIPC.encode(.atom(.long(7)))
            for body in [[notADictionary], [notADictionary], [anAtom], [], [notADictionary]] {
                try servant.send(to: broker, .ready, body)
            }
            #expect(await eventually { log.messages.filter { $0.hasPrefix("ignored a READY") }.count == 4 }, "\(log.messages)")
            try await Task.sleep(for: .milliseconds(300))
            let refused = log.messages.filter { $0.hasPrefix("ignored a READY") }
            #expect(refused.count == 4, "\(refused)")
            #expect(refused.first == refused.last, "\(refused)")
            #expect(Set(refused).count == 3, "\(refused)")
            #expect(await run.broker.snapshot().servants.map(\.state) == ["connecting"])
        }
    }

    /// A servant whose only answer was a READY the broker refused, silent after it, is said to
    /// have answered with a READY the broker ignored, not to have answered nothing (which sent
    /// its author looking for another TCP service on the port, after the refused READY's warning).
    @Test func aServantSilentAfterARefusedReadyIsNotSaidToHaveAnsweredNothing() async throws {
        let log = LogRecorder()
        // A liveness long enough for this test to answer its HELLO on a loaded machine: a READY
        // coming after it finds the connection ended, and the line about it is the one for a
        // port that answered nothing.
        try await ScriptedBroker.withOneServant(liveness: .seconds(10), log: log) { _, servant in
            let (broker, _) = try await servant.next(.hello)
            try servant.send(to: broker, .ready, [QIPC.encode(InfoDictionary.dictionary([("capacity", .atom(.long(4)))]))])
            let said = await eventually(timeout: .seconds(60)) {
                log.messages.contains { $0.hasPrefix("servant endpoint answered only with a READY this broker ignored") }
            }
            #expect(said, "\(log.messages)")
            let line = log.messages.first { $0.hasPrefix("servant endpoint answered only with a READY this broker ignored") }
            #expect(line?.contains("(without an incarnation") == true, "\(line ?? "")")
            #expect(line?.contains("fix its READY (docs/PROTOCOL.md)") == true, "\(line ?? "")")
            #expect(!log.messages.contains { $0.contains("answered nothing for the liveness time") }, "\(log.messages)")
        }
    }

    /// A READY in the incarnation the servant is ready in already is applied not at all: its
    /// capacity, functions and name stay as the first READY gave them, and the broker says so
    /// once; a READY repeating the first (a HELLO crossed it) is no news.
    @Test func aSecondReadyInTheSameIncarnationIsRefusedWholeWithAWarning() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 1, logger: log.logger(label: "mserve.broker")) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            let name = try #require(await run.broker.snapshot().servants.first?.name)
            try servant.send(to: broker, .ready, [ScriptedServant.readyInfo(capacity: 1, batch: nil)])
            try servant.send(
                to: broker, .ready,
                [Self.readyInfo([
                    ("incarnation", .atom(.long(9))), ("capacity", .atom(.long(3))), ("name", .atom(.symbol("second"))),
                    ("functions", .vector(.symbol(["echo"]))),
                ])])
            let warning = "ignored a second READY from servant \(name): "
            #expect(await eventually { log.messages.contains { $0.hasPrefix(warning) } }, "\(log.messages)")
            #expect(log.entries.filter { $0.message.hasPrefix("ignored a") }.count == 1, "\(log.messages)")
            let line = try #require(log.messages.first { $0.hasPrefix(warning) })
            #expect(line.contains("capacity 3 (was 1), other functions, name second (was none)"), "\(line)")
            let servants = await run.broker.snapshot().servants
            #expect(servants.map(\.name) == [name])
            #expect(servants.map(\.capacity) == [1])
            // Its functions are still the first READY's: `twice` is sent to it.
            try run.send(id: 1, "twice 1")
            let (_, query) = try await servant.next(.query)
            #expect(query.count == 2)
        }
    }

    /// A draining servant does not come back in the same incarnation: its READY is ignored,
    /// with a warning saying why.
    @Test func aReadyFromADrainingServantIsRefusedWithAWarning() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 1, logger: log.logger(label: "mserve.broker")) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try servant.send(to: broker, .drain, [])
            #expect(await eventually { await run.broker.snapshot().servants.map(\.state) == ["draining"] })
            try servant.send(to: broker, .ready, [ScriptedServant.readyInfo(capacity: 1, batch: nil)])
            #expect(await eventually { log.messages.contains { $0.hasPrefix("ignored a READY from servant") && $0.contains("while it drains") } }, "\(log.messages)")
            #expect(await run.broker.snapshot().servants.map(\.state) == ["draining"])
        }
    }

    /// A READY field of the wrong type, or out of range, is replaced by what its absence gives,
    /// and one warning names each such field and what was used.
    @Test func readyFieldsOfTheWrongTypeAreNamedInOneWarning() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 1, logger: log.logger(label: "mserve.broker")) { run in
            let servant = run.servants[0]
            let (broker, _) = try await servant.next(.hello)
            try servant.send(
                to: broker, .ready,
                [Self.readyInfo([
                    ("incarnation", .atom(.long(9))), ("capacity", .atom(.int(3))), ("batch", .atom(.long(0))),
                    ("name", .string("named")), ("functions", .string("twice")), ("running", .atom(.int(1))),
                ])])
            #expect(await run.servantsBecomeReady(1))
            let servants = await run.broker.snapshot().servants
            #expect(servants.map(\.capacity) == [1])
            let warnings = log.entries.filter { $0.level == .warning }
            #expect(warnings.count == 1, "\(log.messages)")
            let warning = try #require(warnings.first)
            #expect(
                warning.message
                    == "a READY with fields of the wrong type or out of range (docs/PROTOCOL.md): "
                    + "capacity is an int atom, not a long (using 1); batch is 0, below 1 (using 1); "
                    + "name is a char vector, not a symbol (ignored); "
                    + "functions is a char vector, not a symbol vector (taken as every function); "
                    + "running is an int atom, not a long (using 0)")
            #expect(warning.metadata["servant"] == servants.first?.name)
        }
    }

    /// The keys of a READY's dictionary must be a symbol vector: one with other keys is refused,
    /// and the warning says that, not that the incarnation is missing.
    @Test func aReadyWhoseKeysAreNotSymbolsIsRefusedSayingSo() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 1, logger: log.logger(label: "mserve.broker")) { run in
            let servant = run.servants[0]
            let (broker, _) = try await servant.next(.hello)
            let generalKeys = QValue.dictionary(
                keys: .list([.atom(.symbol("incarnation")), .atom(.symbol("name"))]),
                values: .list([.atom(.long(9)), .atom(.symbol("x"))]))
            try servant.send(to: broker, .ready, [QIPC.encode(generalKeys)])
            let warning = "ignored a READY whose dictionary's keys are a general list, not a symbol vector"
            #expect(await eventually { log.messages.contains { $0.hasPrefix(warning) } }, "\(log.messages)")
            #expect(await run.broker.snapshot().servants.map(\.state) == ["connecting"])
        }
    }

    /// A READY past ReadyLimits (more functions than a READY may list, a function name too
    /// long, more bytes than a READY may have) is refused whole, with a warning naming the
    /// servant and the limit: the servant stays out of dispatch, and the broker has not taken
    /// in its millions of names. A READY within the limits, the most functions it may list
    /// among them, puts it in dispatch.
    @Test func aReadyPastTheLimitsIsRefusedWithAWarningNamingTheServantAndTheLimit() async throws {
        let log = LogRecorder()
        let tooMany = ScriptedServant.readyInfo(capacity: 1, batch: nil, functions: (0...ReadyLimits.mostFunctions).map { "f\($0)" })
        let tooLong = ScriptedServant.readyInfo(
            capacity: 1, batch: nil, functions: ["twice", String(repeating: "f", count: ReadyLimits.longestName + 1)])
        let tooLarge = Self.readyInfo([
            ("incarnation", .atom(.long(9))), ("functions", .vector(.symbol(["twice"]))),
            ("note", .vector(.char([UInt8](repeating: 0x61, count: ReadyLimits.largestBody)))),
        ])
        let expected = [
            "ignored a READY listing 4097 functions: a READY may list at most 4096 (docs/PROTOCOL.md); the servant stays out of dispatch",
            "ignored a READY listing a function name of 256 bytes: a function name may have at most 255 (docs/PROTOCOL.md); the servant stays out of dispatch",
            "ignored a READY of \(tooLarge.count) bytes: a READY may have at most 262144 (docs/PROTOCOL.md); the servant stays out of dispatch",
        ]
        try await ScriptedBroker.run(
            servants: 3, configure: { $0.dispatch.servantWait = .seconds(120) }, logger: log.logger(label: "mserve.broker")
        ) { run in
            let names = await run.broker.snapshot().servants.map(\.name)
            for (servant, ready) in zip(run.servants, [tooMany, tooLong, tooLarge]) {
                let (broker, _) = try await servant.next(.hello)
                try servant.send(to: broker, .ready, [ready])
            }
            try run.send(id: 1, "twice 1")
            #expect(await eventually { log.messages.filter { $0.hasPrefix("ignored a READY") }.count == 3 }, "\(log.messages)")
            for (name, message) in zip(names, expected) {
                let warning = log.entries.first { $0.message == message }
                #expect(warning?.level == .warning, "\(log.messages)")
                #expect(warning?.metadata["servant"] == name)
            }
            #expect(await run.broker.snapshot().servants.map(\.state) == ["connecting", "connecting", "connecting"])
            #expect(await run.broker.snapshot().queued == 1)

            let (broker, _) = try await run.servants[0].next(.hello)
            try run.servants[0].send(
                to: broker, .ready,
                [ScriptedServant.readyInfo(capacity: 1, batch: nil, functions: ["twice"] + (1..<ReadyLimits.mostFunctions).map { "f\($0)" })])
            let (_, query) = try await run.servants[0].next(.query)
            #expect(query.count == 2)
        }
    }

    /// What is read of a READY holds to ReadyLimits: a compressed READY is judged by its plain
    /// size, a single function name by its length; a `name` too long is left out as one of the
    /// wrong type is.
    @Test func readingAReadyHoldsToTheLimits() throws {
        let incarnation: (String, QValue) = ("incarnation", .atom(.long(9)))
        func read(_ entries: [(String, QValue)]) -> ReadyAnnouncement.Reading {
            ReadyAnnouncement.read(Self.readyInfo([incarnation] + entries))
        }
        let most = (0..<ReadyLimits.mostFunctions).map { "f\($0)" }
        #expect(read([("functions", .vector(.symbol(most)))]).announced?.functions == ServedFunctions(announced: most))
        let longest = String(repeating: "f", count: ReadyLimits.longestName)
        #expect(read([("functions", .atom(.symbol(longest)))]).announced?.functions == ServedFunctions(announced: [longest]))
        #expect(
            read([("functions", .atom(.symbol(longest + "f")))])
                == .refused("listing a function name of 256 bytes: a function name may have at most 255 (docs/PROTOCOL.md)"))

        let plain = Self.readyInfo([incarnation, ("note", .vector(.char([UInt8](repeating: 0x61, count: ReadyLimits.largestBody))))])
        let compressed = try #require(QIPC.compress(plain))
        #expect(compressed.count < ReadyLimits.largestBody)
        #expect(
            ReadyAnnouncement.read(compressed)
                == .refused("that decompresses to \(plain.count) bytes: a READY may have at most 262144 (docs/PROTOCOL.md)"))

        let named = read([("name", .atom(.symbol(longest + "n")))]).announced
        #expect(named?.name == nil)
        #expect(named?.problems == ["name is 256 bytes long, over 255 (ignored)"])
        #expect(read([("name", .atom(.symbol(longest)))]).announced?.name == longest)
    }

    /// Two servants ready under one name cannot be told apart in replies, logs and metrics: the
    /// broker warns, naming both endpoints.
    @Test func aServantReadyUnderTheNameOfAnotherIsWarnedAbout() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 2, logger: log.logger(label: "mserve.broker")) { run in
            let info = Self.readyInfo([("incarnation", .atom(.long(9))), ("name", .atom(.symbol("dup")))])
            let (firstBroker, _) = try await run.servants[0].next(.hello)
            try run.servants[0].send(to: firstBroker, .ready, [info])
            #expect(await run.servantsBecomeReady(1))
            let (secondBroker, _) = try await run.servants[1].next(.hello)
            try run.servants[1].send(to: secondBroker, .ready, [info])
            #expect(await run.servantsBecomeReady(2))
            let warnings = log.entries.filter { $0.message.hasPrefix("servant ready under the name of another ready servant") }
            #expect(warnings.count == 1, "\(log.messages)")
            let warning = try #require(warnings.first)
            #expect(warning.level == .warning)
            #expect(warning.metadata["servant"] == "dup")
            #expect(warning.metadata["endpoint"] == run.servants[1].endpoint)
            #expect(warning.metadata["other"] == run.servants[0].endpoint)
        }
    }

    /// A READY's dictionary with these entries.
    static func readyInfo(_ entries: [(String, QValue)]) -> [UInt8] {
        QIPC.encode(InfoDictionary.dictionary(entries))
    }
}

extension ReadyAnnouncement.Reading {
    /// The announcement read; nil for a refusal.
    var announced: ReadyAnnouncement? {
        if case .announced(let announcement) = self { return announcement }
        return nil
    }
}

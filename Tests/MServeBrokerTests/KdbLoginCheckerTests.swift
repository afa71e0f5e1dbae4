import Dispatch
import MServePasswords
import Testing

@testable import MServeBroker

/// Logins against the hub's slow hashes: checked off the caller's thread, remembered once
/// passed, forgotten when the hash changes.
struct KdbLoginCheckerTests {
    static let hash = PasswordHash(password: "wonderland", rounds: PasswordHash.roundsAllowed.lowerBound)

    /// The results of the checks started, waiting for them as the door's poll would.
    static func results(_ checker: KdbLoginChecker, count: Int) async throws -> [KdbLoginChecker.Result] {
        var results: [KdbLoginChecker.Result] = []
        for _ in 0..<2_000 where results.count < count {
            results += checker.takeResults()
            try await Task.sleep(for: .milliseconds(10))
        }
        return results
    }

    @Test func aPasswordIsCheckedThenRemembered() async throws {
        let checker = try KdbLoginChecker()
        defer { checker.close() }
        #expect(checker.check(connection: 1, address: "10.0.0.1", user: "alice", password: "wonderland", hash: Self.hash) == .pending)
        #expect(checker.check(connection: 2, address: "10.0.0.1", user: "alice", password: "guess", hash: Self.hash) == .pending)
        let results = try await Self.results(checker, count: 2).sorted { $0.connection < $1.connection }
        #expect(results.map(\.connection) == [1, 2])
        #expect(results.map(\.accepted) == [true, false])

        // Passed once: at once the next time; a wrong password is still checked in full.
        #expect(checker.check(connection: 3, address: "10.0.0.1", user: "alice", password: "wonderland", hash: Self.hash) == .accepted)
        #expect(checker.check(connection: 4, address: "10.0.0.1", user: "alice", password: "guess", hash: Self.hash) == .pending)
        #expect(try await Self.results(checker, count: 1).map(\.accepted) == [false])
    }

    @Test func aChangedHashIsCheckedAgain() async throws {
        let checker = try KdbLoginChecker()
        defer { checker.close() }
        _ = checker.check(connection: 1, address: "10.0.0.1", user: "alice", password: "wonderland", hash: Self.hash)
        #expect(try await Self.results(checker, count: 1).map(\.accepted) == [true])

        let renewed = PasswordHash(password: "wonderland", rounds: PasswordHash.roundsAllowed.lowerBound)
        #expect(checker.check(connection: 2, address: "10.0.0.1", user: "alice", password: "wonderland", hash: renewed) == .pending)
        #expect(try await Self.results(checker, count: 1).map(\.accepted) == [true])

        // The user removed: forgotten, so checked in full (and refused by the door) again.
        checker.forget(unless: KdbUsers(passwords: [:]))
        #expect(checker.check(connection: 3, address: "10.0.0.1", user: "alice", password: "wonderland", hash: renewed) == .pending)
        _ = try await Self.results(checker, count: 1)
    }

    @Test func tooManyWaitingChecksRefuseTheNext() async throws {
        // Held until every check is asked for, so that none finishes early.
        let queue = DispatchQueue(label: "held checks")
        queue.suspend()
        let checker = try KdbLoginChecker(queue: queue)
        defer { checker.close() }
        var decisions: [KdbLoginChecker.Decision] = []
        for connection in 0...UInt64(KdbLoginChecker.maxPending) {
            // From as many addresses as places, so that only the total is reached.
            decisions.append(
                checker.check(connection: connection, address: "10.0.0.\(connection)", user: "u\(connection)", password: "guess", hash: Self.hash))
        }
        #expect(decisions.last == .busy)
        #expect(decisions.dropLast().allSatisfy { $0 == .pending })
        queue.resume()
        #expect(try await Self.results(checker, count: KdbLoginChecker.maxPending).count == KdbLoginChecker.maxPending)
        // Once they are done, logins are checked again.
        #expect(checker.check(connection: 99, address: "10.0.0.1", user: "alice", password: "guess", hash: Self.hash) == .pending)
        _ = try await Self.results(checker, count: 1)
    }

    /// One address holds at most a quarter of the places: a flood of wrong guesses from it
    /// leaves the rest to other addresses, whose logins are checked. Once its checks are done,
    /// it may use its places again.
    @Test func oneAddressTakesAtMostItsShareOfThePlaces() async throws {
        let queue = DispatchQueue(label: "held checks")
        queue.suspend()
        let checker = try KdbLoginChecker(queue: queue)
        defer { checker.close() }
        var flood: [KdbLoginChecker.Decision] = []
        for connection in 0..<UInt64(KdbLoginChecker.maxPending) {
            flood.append(checker.check(connection: connection, address: "10.0.0.2", user: "alice", password: "guess", hash: Self.hash))
        }
        let share = KdbLoginChecker.maxPendingPerAddress
        #expect(flood.prefix(share).allSatisfy { $0 == .pending }, "\(flood)")
        #expect(flood.dropFirst(share).allSatisfy { $0 == .addressBusy }, "\(flood)")
        for connection in 100..<UInt64(100 + KdbLoginChecker.maxPending - share) {
            #expect(
                checker.check(connection: connection, address: "10.0.0.\(connection)", user: "bob", password: "builder", hash: Self.hash)
                    == .pending)
        }
        queue.resume()
        #expect(try await Self.results(checker, count: KdbLoginChecker.maxPending).count == KdbLoginChecker.maxPending)
        #expect(checker.check(connection: 99, address: "10.0.0.2", user: "alice", password: "guess", hash: Self.hash) == .pending)
        _ = try await Self.results(checker, count: 1)
    }

    /// The checks are taken by address in turn: a login from an address that has no other
    /// waiting is checked after one of the flooding address's, not after all of them.
    @Test func addressesTakeTheirTurnsInsteadOfTheOrderTheyCame() async throws {
        let queue = DispatchQueue(label: "held checks")
        queue.suspend()
        let checker = try KdbLoginChecker(queue: queue)
        defer { checker.close() }
        for connection in 1...UInt64(KdbLoginChecker.maxPendingPerAddress) {
            #expect(checker.check(connection: connection, address: "10.0.0.2", user: "alice", password: "guess", hash: Self.hash) == .pending)
        }
        #expect(checker.check(connection: 10, address: "10.0.0.3", user: "alice", password: "wonderland", hash: Self.hash) == .pending)
        #expect(checker.check(connection: 20, address: "10.0.0.4", user: "carol", password: "guess", hash: Self.hash) == .pending)
        queue.resume()
        let results = try await Self.results(checker, count: KdbLoginChecker.maxPendingPerAddress + 2)
        #expect(results.map(\.connection) == [1, 10, 20, 2, 3, 4])
        #expect(results.first { $0.connection == 10 }?.accepted == true)
    }
}

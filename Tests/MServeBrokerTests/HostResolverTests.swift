import Foundation
import Logging
import MServeTestSupport
import MServeTesting
import Synchronization
import Testing
import ZeroMQ

@testable import MServeBroker

/// Host names of q servants are looked up off the broker's event loop.
struct HostResolverTests {
    @Test func anIPv4AddressIsAnsweredAtOnce() throws {
        let resolver = HostResolver { _ in
            Issue.record("an IPv4 address was looked up")
            return .failed("looked up")
        }
        #expect(resolver.address(of: "10.1.2.3") == .address(UInt32(10 | 1 << 8 | 2 << 16 | 3 << 24)))
        #expect(resolver.address(of: "127.0.0.1") == .address(UInt32(127 | 1 << 24)))
    }

    @Test func aNameIsLookedUpInTheBackgroundAndAnsweredOnce() async throws {
        let release = Mutex(false)
        let lookUps = Mutex(0)
        let resolver = HostResolver { host in
            lookUps.withLock { $0 += 1 }
            while !release.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.005) }
            return host == "q-host" ? .address(42) : .failed("unknown")
        }
        let started = ContinuousClock.now
        #expect(resolver.address(of: "q-host") == nil)
        #expect(resolver.address(of: "q-host") == nil)
        // The lookup is held until after this check: asking that waited would never return, or
        // take seconds; a loaded machine may hold this task back for a moment but not for two.
        #expect(ContinuousClock.now - started < .seconds(2), "asking must not wait for the lookup")
        release.withLock { $0 = true }
        var answer: HostResolver.Answer?
        #expect(await eventually { answer = resolver.address(of: "q-host"); return answer != nil })
        #expect(answer == .address(42))
        #expect(lookUps.withLock { $0 } == 1, "a lookup under way is not started twice")
        // Handed out once: the next connection attempt looks the name up again.
        #expect(resolver.address(of: "q-host") == nil)
        #expect(await eventually { resolver.address(of: "q-host") != nil })
        #expect(lookUps.withLock { $0 } == 2)
    }

    @Test func localhostResolvesThroughTheSystem() async throws {
        let resolver = HostResolver()
        var answer: HostResolver.Answer?
        #expect(await eventually { answer = resolver.address(of: "localhost"); return answer != nil })
        #expect(answer == .address(UInt32(127 | 1 << 24)))
    }

    @Test func aQServantWhoseHostCannotBeResolvedIsLoggedWithTheReasonAndRetried() async throws {
        let log = LogRecorder()
        let lookUps = Mutex(0)
        let links = KdbServantLinks(
            credentials: "", maxMessageSize: 1 << 20, logger: log.logger(label: "test"),
            resolver: HostResolver { _ in
                lookUps.withLock { $0 += 1 }
                return .failed("Name or service not known")
            })
        try links.add(servantID: 1, endpoint: "kdb://q-host.invalid:5001")
        #expect(
            await eventually {
                _ = links.service(ZMQPoller(), now: 1_000)
                return log.entries.contains { $0.message.hasPrefix("cannot reach q servant") }
            })
        let reason = log.entries.first { $0.message.hasPrefix("cannot reach q servant") }?.metadata["reason"] ?? ""
        #expect(reason.contains("q-host.invalid") && reason.contains("Name or service not known"))
        // The next attempt, a second later, asks again.
        _ = links.service(ZMQPoller(), now: 1_000 + KdbServantLinks.reconnectInterval)
        #expect(await eventually { lookUps.withLock { $0 } == 2 })
    }

    @Test func aLookupThatHangsNeitherBlocksTheLoopNorLastsForEver() throws {
        let release = Mutex(false)
        defer { release.withLock { $0 = true } }
        let log = LogRecorder()
        let links = KdbServantLinks(
            credentials: "", maxMessageSize: 1 << 20, logger: log.logger(label: "test"),
            resolver: HostResolver { _ in
                while !release.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.005) }
                return .failed("too late")
            })
        try links.add(servantID: 1, endpoint: "kdb://slow-dns.example:5001")
        let started = ContinuousClock.now
        for turn in 1...5 {
            #expect(links.service(ZMQPoller(), now: UInt64(turn) * 1_000_000).isEmpty)
        }
        #expect(ContinuousClock.now - started < .seconds(2), "the loop waited for the lookup")
        #expect(log.entries.isEmpty)
        // Past the connect timeout the attempt is abandoned (and retried a second later).
        _ = links.service(ZMQPoller(), now: 1_000_000 + KdbServantLinks.connectTimeout + 1)
        let reason = log.entries.first { $0.message.hasPrefix("cannot reach q servant") }?.metadata["reason"] ?? ""
        #expect(reason.contains("no address for slow-dns.example within 5 s"))
    }
}

import MServeTesting
import Testing
import ZeroMQ

@testable import MServeBroker

/// A secured broker admits a servant by its key, judged against the allowed list read from the
/// hub: not before that list is first read (every servant would be refused, and logged so, at
/// each start), and again at each refresh (revoked ones dropped, ones allowed again taken back).
struct ServantKeyAdmissionTests {
    static let servantKey = String(repeating: "a", count: 40)
    static let otherKey = String(repeating: "b", count: 40)

    func admission(_ keys: ZAPKeyList, _ log: LogRecorder) throws -> ServantKeyAdmission {
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        let broker = try Broker(configuration: configuration) { _ in InProcessFirstFreeAlgorithm() }
        return ServantKeyAdmission(broker: broker, allowedKeys: keys, logger: log.logger(label: "test"))
    }

    @Test func aServantOfferedBeforeTheListIsReadIsJudgedWhenItIsReadNotBefore() throws {
        let keys = ZAPKeyList()
        let log = LogRecorder()
        let admission = try admission(keys, log)
        admission.offer(endpoint: "tcp://10.1.2.7:5001", key: Self.servantKey)
        admission.offer(endpoint: "tcp://10.1.2.8:5001", key: Self.otherKey)
        admission.offer(endpoint: "tcp://10.1.2.9:5001", key: nil)
        #expect(admission.servantsInUse.isEmpty)
        #expect(log.entries.isEmpty, "\(log.messages)")

        keys.replace([Self.servantKey: "servant"])
        admission.reconcile()
        #expect(admission.servantsInUse == ["tcp://10.1.2.7:5001"])
        // Refused once each, now that the list says so; the allowed one is no "allowed again".
        #expect(log.messages.sorted() == ["refused a servant: it has no CURVE key", "refused a servant: its key is not allowed as a servant"])
        admission.reconcile()
        #expect(log.entries.count == 2, "\(log.messages)")
    }

    /// A q servant the hub lists is refused whatever key its registration carries: nothing on
    /// a kdb+ IPC connection proves a key, and its queries would cross in clear.
    @Test func aQServantIsRefusedWhateverItsKey() throws {
        let keys = ZAPKeyList([Self.servantKey: "servant"])
        let log = LogRecorder()
        let admission = try admission(keys, log)
        admission.reconcile()
        admission.offer(endpoint: "kdb://10.1.2.7:5001", key: Self.servantKey)
        admission.offer(endpoint: "KDB://10.1.2.8:5001", key: nil)
        admission.reconcile()
        #expect(admission.servantsInUse.isEmpty)
        #expect(log.messages == Array(repeating: ServantKeyAdmission.qServantRefusal, count: 2), "\(log.messages)")
    }

    @Test func onceTheListIsReadOffersAreJudgedAtOnceAndRefreshesDropAndTakeBack() throws {
        let keys = ZAPKeyList([Self.servantKey: "servant"])
        let log = LogRecorder()
        let admission = try admission(keys, log)
        admission.reconcile()
        admission.offer(endpoint: "tcp://10.1.2.7:5001", key: Self.servantKey)
        admission.offer(endpoint: "tcp://10.1.2.8:5001", key: Self.otherKey)
        #expect(admission.servantsInUse == ["tcp://10.1.2.7:5001"])
        #expect(log.messages == ["refused a servant: its key is not allowed as a servant"])

        keys.replace([Self.otherKey: "other"])
        admission.reconcile()
        #expect(admission.servantsInUse == ["tcp://10.1.2.8:5001"])
        #expect(log.messages.contains("dropped a servant: its key was revoked or is no longer allowed as a servant"))
        // Named as every servant line names one: servant and endpoint.
        let dropped = log.entries.first { $0.message.hasPrefix("dropped a servant") }
        #expect(dropped?.metadata["servant"] == "10.1.2.7:5001")
        #expect(dropped?.metadata["endpoint"] == "tcp://10.1.2.7:5001")
        #expect(log.messages.contains("servant key allowed again"))
        admission.withdraw(endpoint: "tcp://10.1.2.8:5001")
        #expect(admission.servantsInUse.isEmpty)
    }
}

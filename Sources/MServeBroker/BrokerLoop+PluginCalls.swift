// How long each call into a dispatch plugin took: a plugin runs on the broker's loop, so one
// that blocks holds up every query, servant and client until it returns. A call that took
// `slowPluginCall` or more is counted and logged, naming the plugin and the function.

import Logging
import MServePlugin
import MServeProtocol

/// A function of a dispatch plugin the broker's loop calls, as the slow-call line names it
/// (mserve_plugin.h's names).
enum PluginCall: String, Sendable {
    case choose
    case chooseIn = "choose_in"
    case completed
    case observe
    case take
    case route
}

extension BrokerLoop {
    /// A call into a dispatch plugin that took this long or more is counted and logged: 100 ms,
    /// hundreds of times what an algorithm needs (the shipped ones take well under a
    /// microsecond) and long enough that every client and servant of the broker felt it.
    static let slowPluginCall: UInt64 = 100_000_000

    /// Reads the clock once, after a call into the dispatch plugin's `function` that started at
    /// `start` (a reading taken just before the call, or the end of the call just before it
    /// with nothing but bookkeeping between), and returns the reading: the start of the next
    /// call, or the `now` of what follows. A call of ``slowPluginCall`` or more is counted and
    /// logged (``reportSlowPluginCall(_:of:took:)``); `ofRoutingHook` names the routing hook's
    /// plugin instead of the algorithm's.
    @inline(__always)
    func pluginCallEnded(_ function: PluginCall, startedAt start: UInt64, ofRoutingHook: Bool = false) -> UInt64 {
        let now = QueryClock.monotonicNanoseconds()
        if now &- start >= Self.slowPluginCall {
            reportSlowPluginCall(function, of: ofRoutingHook ? routingHook ?? algorithm : algorithm, took: now &- start)
        }
        return now
    }

    /// Times a call into the dispatch plugin that no clock reading is at hand for: two readings,
    /// for the calls that are not made for every query (a servant ready, lost or removed, a
    /// candidate group joined or left, the routing hook, which builds its arguments' messages).
    func timedPluginCall<Result>(
        _ function: PluginCall, ofRoutingHook: Bool = false, _ call: () -> Result
    ) -> Result {
        let start = QueryClock.monotonicNanoseconds()
        let result = call()
        _ = pluginCallEnded(function, startedAt: start, ofRoutingHook: ofRoutingHook)
        return result
    }

    /// Counts a call into `plugin` that took `nanoseconds`, and logs it (a line a second at most,
    /// as for the plugin's wrong answers).
    func reportSlowPluginCall(_ function: PluginCall, of plugin: any DispatchAlgorithm, took nanoseconds: UInt64) {
        metrics.slowPluginCall()
        guard let heldBack = slowPluginCallLog.admit() else { return }
        let took = Duration.nanoseconds(Int64(clamping: nanoseconds))
        logger.warning(
            "\(LogThrottle.line("the dispatch plugin \(plugin.name) took \(took) in \(function.rawValue); the broker did nothing else meanwhile (no query was taken, sent or answered): a dispatch plugin must never block", heldBack: heldBack))",
            metadata: ["algorithm": "\(plugin.name)", "function": "\(function.rawValue)", "took": "\(took)"])
    }
}

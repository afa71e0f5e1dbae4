// Which functions the servants of the service serve: what lets the broker send a query only to
// a servant that serves its function, and refuse at once a query whose function none serves.

import MServeQuery

/// The functions a servant serves, as its READY announced them.
enum ServedFunctions: Equatable {
    /// Every function: a servant that announced no list (a q servant, an empty `functions`).
    case every
    /// Only these.
    case only(Set<String>)

    /// What a READY's `functions` announces: an empty list means every function.
    init(announced names: [String]) {
        self = names.isEmpty ? .every : .only(Set(names))
    }

    /// Whether a query calling `function` may go to the servant.
    @inline(__always)
    func contains(_ function: String) -> Bool {
        switch self {
        case .every: return true
        case .only(let names): return names.contains(function)
        }
    }
}

/// Counts of the servants serving each function: of all the servants whose functions are
/// known (they announced them at least once, lost or not: a lost servant may come back), and of
/// the ready ones. Every question a query asks is one dictionary look-up, whatever the number
/// of servants; the counts change only when a servant announces, becomes ready or leaves.
///
/// A class, owned by the broker's loop alone: a question asked of a struct kept in the loop
/// copied its five collections (five retains and releases) on every query. Only the loop's
/// thread reaches it, one call at a time, so its state skips the run-time exclusivity check
/// (as the loop's own does).
final class ServiceFunctions {
    /// Known servants serving every function.
    @exclusivity(unchecked) private(set) var knownServingEvery = 0
    /// Known servants announcing a list, per function listed.
    @exclusivity(unchecked) private var knownServing: [String: Int] = [:]
    /// Known servants (serving every function or a list).
    @exclusivity(unchecked) private(set) var knownServants = 0
    /// Ready servants serving every function.
    @exclusivity(unchecked) private var readyServingEvery = 0
    /// Ready servants announcing a list, per function listed.
    @exclusivity(unchecked) private var readyServing: [String: Int] = [:]
    /// Ready servants.
    @exclusivity(unchecked) private var readyServants = 0

    /// The two answers for the function last asked about, kept until the counts change: a
    /// stream of queries calling one function asks the same questions each time, and hashing
    /// the function's name took longer than comparing it (1.5 % of the loop's samples).
    private struct Answers {
        var function: String
        var mayServe: Bool
        var everyReadyServantServes: Bool
        var someReadyServantServes: Bool
    }
    @exclusivity(unchecked) private var lastAnswers: Answers?

    /// A servant announced `functions` for the first time (`old` nil) or again.
    func announce(_ functions: ServedFunctions, replacing old: ServedFunctions?) {
        if let old { count(old, by: -1, every: &knownServingEvery, serving: &knownServing) }
        else { knownServants += 1 }
        count(functions, by: 1, every: &knownServingEvery, serving: &knownServing)
    }

    /// A known servant was removed from the broker.
    func forget(_ functions: ServedFunctions) {
        knownServants -= 1
        count(functions, by: -1, every: &knownServingEvery, serving: &knownServing)
    }

    /// A servant serving `functions` entered dispatch.
    func becameReady(_ functions: ServedFunctions) {
        readyServants += 1
        count(functions, by: 1, every: &readyServingEvery, serving: &readyServing)
    }

    /// A servant serving `functions` left dispatch.
    func leftReady(_ functions: ServedFunctions) {
        readyServants -= 1
        count(functions, by: -1, every: &readyServingEvery, serving: &readyServing)
    }

    /// Whether a query calling `function` may be accepted: some known servant serves it, or no
    /// servant is known yet (the query then waits for one, as any query does).
    func mayServe(_ function: String) -> Bool {
        answers(for: function).mayServe
    }

    /// Whether every ready servant serves `function`: dispatch then needs no narrowing.
    func everyReadyServantServes(_ function: String) -> Bool {
        answers(for: function).everyReadyServantServes
    }

    /// Whether some ready servant serves `function`.
    func someReadyServantServes(_ function: String) -> Bool {
        answers(for: function).someReadyServantServes
    }

    /// How many known servants (ready or not) serve `function`.
    func knownServantCount(serving function: String) -> Int {
        knownServingEvery + (knownServing[function] ?? 0)
    }

    /// Whether servants are ready but some function a known servant serves has no ready servant
    /// serving it: the queries calling it wait for one (at most `--wait-for-servant`) and take
    /// no place in the look-ahead. False in the common case that a ready servant serves every
    /// function, and a few comparisons.
    var someFunctionLacksAReadyServant: Bool {
        readyServants > 0 && readyServingEvery == 0
            && (knownServingEvery > 0 || knownServing.count != readyServing.count)
    }

    private func answers(for function: String) -> Answers {
        if let lastAnswers, lastAnswers.function == function { return lastAnswers }
        let answers = Answers(
            function: function,
            mayServe: knownServants == 0 || knownServingEvery > 0 || knownServing[function] != nil,
            everyReadyServantServes: readyServingEvery == readyServants
                || readyServingEvery + (readyServing[function] ?? 0) == readyServants,
            someReadyServantServes: readyServingEvery > 0 || readyServing[function] != nil)
        lastAnswers = answers
        return answers
    }

    // MARK: Candidate groups (dispatch plugins of ABI version 3)

    /// The candidate group given to each function that not every ready servant served when a
    /// query called it (an algorithm following events keeps its index per group); ids from 1
    /// up, never reused for another function.
    @exclusivity(unchecked) private var groupByFunction: [String: UInt32] = [:]
    /// The function of each group, in group order (group `g` is at `g - 1`).
    @exclusivity(unchecked) private(set) var groupFunctions: [String] = []
    /// How many ready members of each group are free, indexed by group (group 0 unused).
    @exclusivity(unchecked) private var freeMembers: [Int] = [0]

    /// The candidate group of `function`, nil when it has none yet.
    func group(of function: String) -> UInt32? { groupByFunction[function] }

    /// Gives `function` a candidate group (its members join it next).
    func makeGroup(for function: String) -> UInt32 {
        let group = UInt32(groupFunctions.count + 1)
        groupFunctions.append(function)
        groupByFunction[function] = group
        freeMembers.append(0)
        return group
    }

    /// The candidate groups a servant serving `functions` is a member of.
    func groups(servedBy functions: ServedFunctions) -> [UInt32] {
        guard !groupFunctions.isEmpty else { return [] }
        switch functions {
        case .every: return Array(1...UInt32(groupFunctions.count))
        case .only(let names):
            if names.count < groupFunctions.count { return names.compactMap { groupByFunction[$0] }.sorted() }
            return groupFunctions.indices.compactMap { names.contains(groupFunctions[$0]) ? UInt32($0 + 1) : nil }
        }
    }

    /// How many ready members of `group` are free.
    func freeMemberCount(of group: UInt32) -> Int { freeMembers[Int(group)] }

    /// A member of each of `groups` became free (`by` 1) or busy (`by` -1), or a free one joined or left.
    func countFree(in groups: [UInt32], by delta: Int) {
        for group in groups { freeMembers[Int(group)] += delta }
    }

    /// The functions the known servants announce, sorted (for an error message), without the
    /// names no query reaches a servant with (``mayReachAServant(_:)``).
    var knownFunctionNames: [String] { knownServing.keys.filter(Self.mayReachAServant).sorted() }

    /// Whether a query calling `function` may be sent to a servant: not one of the broker's own
    /// (`.mserve.status`, any `.mserve.` name), nor one secure invocation refuses (a q built-in
    /// such as `sum`, a name in a reserved namespace such as `.z.ts`, a name that is not a q
    /// identifier). A servant may announce such names; the broker answers or refuses those
    /// queries itself, so they are not the service's functions.
    static func mayReachAServant(_ function: String) -> Bool {
        !BrokerFunctions.isBrokerFunction(function) && SecureInvocation.refusalReason(forFunction: function) == nil
    }

    /// The error text for a query calling `function`, which no known servant serves: it names
    /// the function and the functions the service has (the first `limit` of them).
    func unservedMessage(_ function: String, limit: Int = 64) -> String {
        let names = knownFunctionNames
        guard !names.isEmpty else {
            return "no servant of this service serves the function \(function); its servants announce none a query may call"
        }
        var listed = names.prefix(limit).joined(separator: " ")
        if names.count > limit { listed += " ... (\(names.count - limit) more)" }
        return "no servant of this service serves the function \(function); its functions: \(listed)"
    }

    /// Every change of the counts goes through here: the answers kept for the last function
    /// asked are forgotten with it.
    private func count(
        _ functions: ServedFunctions, by delta: Int, every: inout Int, serving: inout [String: Int]
    ) {
        lastAnswers = nil
        switch functions {
        case .every: every += delta
        case .only(let names):
            for name in names {
                let count = (serving[name] ?? 0) + delta
                serving[name] = count > 0 ? count : nil
            }
        }
    }
}

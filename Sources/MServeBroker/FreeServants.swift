// The free ready servants, all together and apart by the list of functions they announced:
// offering the waiting queries for taking visits only the free servants that serve one of them.

import MServePlugin

/// The free ready servants, in list order (ids ascend down the list), apart by the distinct
/// list of functions they announced, and how many they are.
///
/// While queries wait, an algorithm that takes queries (`take`, `match`) is asked for each free
/// servant whether it takes one of those it may run (``BrokerLoop/letFreeServantsTakeQueries(clock:)``).
/// Found by walking every free servant and testing its functions against each waiting query's,
/// that cost a hash of a function name per servant and query even for a servant serving none
/// of them: with one function's servants all busy and its queries waiting, the idle servants of
/// the other functions cost the loop more than the queries did (fleet_bench.py `--groups`,
/// bench/README.md). Here each distinct list of functions is kept once, numbered, with the set
/// of its free servants: the lists are tested against the waiting queries once a pass, and only
/// the free servants of the lists that serve one of them are visited.
///
/// Numbers are kept while a known servant announces the list, and reused after; number 0 is
/// every function (a servant announcing none, a q servant).
struct FreeServants {
    /// One list of functions: the functions, how many known servants announce it, and its free
    /// ready servants.
    struct FunctionList {
        let functions: ServedFunctions
        var announcers: Int
        var free = ServantIDSet()
    }

    /// The lists by number; nil for a number no servant announces now (used for the next new list).
    private(set) var lists: [FunctionList?] = [FunctionList(functions: .every, announcers: 0)]
    /// The number of each list of some functions (every function is number 0).
    private var numbers: [Set<String>: Int] = [:]
    /// Numbers no list holds, to be used again.
    private var unused: [Int] = []
    /// How many servants are free: the members of every list's set (each servant is in one).
    private(set) var count = 0

    /// The number of `functions`, now announced by one more known servant.
    mutating func announce(_ functions: ServedFunctions) -> Int {
        guard case .only(let names) = functions else {
            lists[0]?.announcers += 1
            return 0
        }
        if let number = numbers[names] {
            lists[number]?.announcers += 1
            return number
        }
        let list = FunctionList(functions: functions, announcers: 1)
        let number: Int
        if let reused = unused.popLast() {
            number = reused
            lists[number] = list
        } else {
            number = lists.count
            lists.append(list)
        }
        numbers[names] = number
        return number
    }

    /// A known servant no longer announces list `number` (it announced another, or is gone);
    /// it is not free. The list is forgotten with its last announcer.
    mutating func withdraw(_ number: Int) {
        guard let list = lists[number] else { return }
        assert(list.announcers > 0, "list \(number) withdrawn more often than announced")
        lists[number]?.announcers -= 1
        guard number != 0, list.announcers == 1, case .only(let names) = list.functions else { return }
        assert(list.free.isEmpty, "a free servant's list \(number) forgotten")
        numbers[names] = nil
        lists[number] = nil
        unused.append(number)
    }

    /// Servant `id`, announcing list `number`, is free.
    @inline(__always)
    mutating func insert(_ id: UInt64, list number: Int) {
        if lists[number]?.free.insert(id) == true { count += 1 }
    }

    /// Servant `id`, announcing list `number`, is busy or left dispatch.
    @inline(__always)
    mutating func remove(_ id: UInt64, list number: Int) {
        if lists[number]?.free.remove(id) == true { count -= 1 }
    }

    /// How many lists are numbered now.
    var listCount: Int { lists.count - unused.count }
}

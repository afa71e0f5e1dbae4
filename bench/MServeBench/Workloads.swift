import Foundation
import MServeServant
import QData
import Synchronization

/// A broker workload: the functions its servants serve and the queries its clients send.
enum Workload: String, CaseIterable, Sendable {
    /// `echo 1`: tiny queries; measures the broker's own overhead.
    case echo
    /// `warm `Sn`: a per-servant cache; cold calls cost ~2 ms, warm ones ~50 µs; n from Zipf(1.1)
    /// over K symbols.
    case warm
    /// `warm `HOT` 90% of the time, another symbol otherwise.
    case skew
    /// `large `L`: a 1 MB result.
    case large

    /// Symbols the warm and skew workloads draw from, unless `--symbols` says otherwise.
    static let defaultSymbolCount = 8
    /// Cost of a cold call (the servant has not seen the symbol recently).
    static let coldNanoseconds: UInt64 = 2_000_000
    /// Cost of a warm call.
    static let warmNanoseconds: UInt64 = 50_000
    /// Bytes of the large workload's result.
    static let largeBytes = 1 << 20

    /// The query a client sends next; `random` is the client's own generator.
    func nextQuery(_ random: inout BenchRandom, zipf: ZipfSampler) -> String {
        switch self {
        case .echo: "echo 1"
        case .warm: "warm `S\(zipf.sample(&random))"
        case .skew: random.unit() < 0.9 ? "warm `HOT" : "warm `S\(1 + random.below(max(1, zipf.count - 1)))"
        case .large: "large `L"
        }
    }

    /// The functions a servant serves for this workload (all workloads' functions, so one
    /// servant binary serves them all); `cacheCapacity` bounds the warm cache.
    static func registry(cacheCapacity: Int) -> FunctionRegistry {
        var functions = FunctionRegistry()
        functions.register("echo", arity: 1...1) { $0[0] }
        let cache = WarmCache(capacity: cacheCapacity)
        functions.register("warm", arity: 1...1) { arguments in
            guard case .atom(.symbol(let symbol)) = arguments[0] else {
                throw ServantError("warm: type: expected a symbol")
            }
            let hit = cache.touch(symbol)
            pause(nanoseconds: hit ? warmNanoseconds : coldNanoseconds)
            return .atom(.boolean(hit))
        }
        let large = QValue.vector(.long([Int64](repeating: 42, count: largeBytes / 8)))
        functions.register("large", arity: 1...1) { _ in large }
        return functions
    }

    /// Sleeps for about `nanoseconds` (a sleep, not a busy wait: the machine is shared).
    static func pause(nanoseconds: UInt64) {
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

/// A servant's cache of recently used symbols: least recently used out first.
final class WarmCache: Sendable {
    private let capacity: Int
    private let state = Mutex<(order: [String], members: Set<String>)>(([], []))

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Marks `symbol` used; returns whether it was already cached (a warm call).
    func touch(_ symbol: String) -> Bool {
        state.withLock { state in
            if state.members.contains(symbol) {
                if let index = state.order.firstIndex(of: symbol) { state.order.remove(at: index) }
                state.order.append(symbol)
                return true
            }
            state.members.insert(symbol)
            state.order.append(symbol)
            if state.order.count > capacity { state.members.remove(state.order.removeFirst()) }
            return false
        }
    }
}

/// A small, fast generator (splitmix64) so each client draws its own reproducible sequence.
struct BenchRandom: Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// A uniform integer in 0..<bound.
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// Draws ranks 1...count with probability proportional to 1/rank^exponent.
struct ZipfSampler: Sendable {
    private let cumulative: [Double]
    /// How many ranks it draws from.
    var count: Int { cumulative.count }

    init(count: Int, exponent: Double) {
        var total = 0.0
        var cumulative: [Double] = []
        for rank in 1...count {
            total += 1 / pow(Double(rank), exponent)
            cumulative.append(total)
        }
        self.cumulative = cumulative.map { $0 / total }
    }

    /// A rank from 1 to count.
    func sample(_ random: inout BenchRandom) -> Int {
        let target = random.unit()
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < target { low = middle + 1 } else { high = middle }
        }
        return low + 1
    }
}

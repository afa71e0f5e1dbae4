// DemoAPI owns the quickstart's demo API (proc1, proc2, proc3, echo, sleep, fail, pid), written
// once on q values: the demo-api servant plugin exports it, and MServeServant's DemoFunctions
// registers the same functions in-process.

import Foundation
public import MServeServantPluginKit
public import QData

/// The demo API the quickstart serves: small trade tables per symbol, like mserve's `proc1`.
///
/// - `proc1 sym`: five trades for `sym` (a table: time, sym, price, size).
/// - `proc2 syms`: volume-weighted price and volume per symbol (a table).
/// - `proc3 sym`: like `proc1`, and the servant adds its own info dictionary (`rows`, `source`).
/// - `echo x`: returns `x`.
/// - `sleep ms`: waits `ms` milliseconds, returns `ms` (for queueing and deadline demos).
/// - `fail text`: fails with the q error `'text`.
/// - `pid[]`: the servant's process id (an argument, if given, is ignored: `pid `IBM` routes
///   like a query for `IBM`, and answers which servant took it).
public enum DemoAPI: ServantPluginAPI {
    /// The demo functions, in the order the plugin lists them.
    public static let functions: [ServantPluginFunction] = [
        ServantPluginFunction("proc1", arity: 1...1) { arguments in
            .table(trades(for: try symbol(arguments[0], in: "proc1")))
        },
        ServantPluginFunction("proc2", arity: 1...1) { arguments in
            try summary(for: symbols(arguments[0], in: "proc2"))
        },
        ServantPluginFunction("proc3", arity: 1...1, withInfo: { arguments in
            let table = trades(for: try symbol(arguments[0], in: "proc3"))
            return ServantPluginResult(
                .table(table),
                info: .dictionary(
                    keys: .vector(.symbol(["rows", "source"])),
                    values: .list([.atom(.long(5)), .atom(.symbol("demo"))])))
        }),
        // Through the plugin ABI its argument's bytes become the result undecoded.
        ServantPluginFunction.identity("echo"),
        ServantPluginFunction("sleep", arity: 1...1) { arguments in
            guard case .atom(let atom) = arguments[0], let milliseconds = integerValue(atom), milliseconds >= 0,
                milliseconds <= 600_000
            else {
                throw ServantPluginFailure("sleep: type: expected a whole number of milliseconds (a short, int or long) from 0 to 600000")
            }
            Thread.sleep(forTimeInterval: Double(milliseconds) / 1000)
            return .atom(.long(milliseconds))
        },
        ServantPluginFunction("fail", arity: 0...1) { arguments -> QValue in
            // An empty text (fail `, fail "") fails as fail without one does.
            throw ServantPluginFailure(arguments.first.flatMap(text).flatMap { $0.isEmpty ? nil : $0 } ?? "fail")
        },
        ServantPluginFunction("pid", arity: 0...1) { _ in .atom(.int(getpid())) },
    ]

    /// Five trades for `symbol`, the same every time for the same symbol.
    public static func trades(for symbol: String) -> QTable {
        var seed = symbol.utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
        func next() -> UInt64 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return seed >> 33
        }
        let base = 50 + Double(next() % 400)
        let start: Int64 = 9_162 * 86_400_000_000_000 + 34_200_000_000_000  // 2025.01.31D09:30
        var times: [Int64] = []
        var prices: [Double] = []
        var sizes: [Int64] = []
        for row in 0..<5 {
            times.append(start + Int64(row) * 1_000_000_000 + Int64(next() % 1_000_000_000))
            prices.append(((base + Double(next() % 200) / 100) * 100).rounded() / 100)
            sizes.append(Int64(100 * (1 + next() % 50)))
        }
        return QTable(
            columns: ["time", "sym", "price", "size"],
            values: [
                .vector(.timestamp(times)), .vector(.symbol(Array(repeating: symbol, count: 5))),
                .vector(.float(prices)), .vector(.long(sizes)),
            ])
    }

    /// Volume-weighted price and volume of each symbol's trades (a table: sym, vwap, volume).
    public static func summary(for symbols: [String]) -> QValue {
        var vwaps: [Double] = []
        var volumes: [Int64] = []
        for symbol in symbols {
            let table = trades(for: symbol)
            guard case .vector(.float(let prices), _) = table.values[2],
                case .vector(.long(let sizes), _) = table.values[3]
            else { continue }
            let volume = sizes.reduce(0, +)
            let notional = zip(prices, sizes).reduce(0.0) { $0 + $1.0 * Double($1.1) }
            vwaps.append((notional / Double(volume) * 10_000).rounded() / 10_000)
            volumes.append(volume)
        }
        return .table(
            QTable(
                columns: ["sym", "vwap", "volume"],
                values: [.vector(.symbol(symbols)), .vector(.float(vwaps)), .vector(.long(volumes))]))
    }

    static func symbol(_ value: QValue, in function: String) throws -> String {
        guard case .atom(.symbol(let symbol)) = value else {
            throw ServantPluginFailure("\(function): type: expected a symbol such as `IBM")
        }
        return symbol
    }

    static func symbols(_ value: QValue, in function: String) throws -> [String] {
        switch value {
        case .atom(.symbol(let symbol)): return [symbol]
        case .vector(.symbol(let symbols), _): return symbols
        default: throw ServantPluginFailure("\(function): type: expected symbols such as `IBM`MSFT")
        }
    }

    static func text(_ value: QValue) -> String? {
        switch value {
        case .atom(.symbol(let text)): text
        case .vector(.char(let bytes), _): String(decoding: bytes, as: UTF8.self)
        // A one-character text in q ("x") is a char atom.
        case .atom(.char(let byte)): String(decoding: [byte], as: UTF8.self)
        default: nil
        }
    }

    /// The atom as an integer, when it is a whole number of any integer type.
    static func integerValue(_ atom: QAtom) -> Int64? {
        switch atom {
        case .byte(let v): Int64(v)
        case .short(let v): Int64(v)
        case .int(let v): Int64(v)
        case .long(let v): v
        default: nil
        }
    }
}

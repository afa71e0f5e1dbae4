// A Swift routing hook sees the broker's default routing string (the first argument, or the
// function name) through both sides of the ABI: the broker's C views and the Swift exporter.
import CMServePlugin
@testable import MServePlugin
import QData
import Testing

/// Answers with what it was given: the default routing for `fallback`, and for any other
/// function `function|defaultRouting|argument count`.
final class DefaultEchoHook: SwiftRoutingHook {
    init?(config: String) {}

    func choose(routing: String, servants: [ServantView]) -> Int? { servants.firstIndex(where: \.isFree) }

    func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult {
        function == "fallback"
            ? .routing(defaultRouting) : .routing("\(function)|\(defaultRouting)|\(argumentMessages.count)")
    }
}

let defaultEchoHookTable = DispatchPluginExport<DefaultEchoHook>.table(
    name: "default-echo", description: "answers with the default routing it was given",
    create: { DispatchPluginExport<DefaultEchoHook>.create(config: $0) })

@Suite struct RoutingHookDefaultTests {
    /// The hook behind the broker's C side of the ABI, as a loaded plugin is.
    func loadedHook() throws -> CDispatchAlgorithm {
        let table = defaultEchoHookTable.pointer.assumingMemoryBound(to: mserve_dispatch_plugin.self)
        let create = try #require(table.pointee.create)
        let state = try #require(create(""))
        return CDispatchAlgorithm(name: "default-echo", path: "(in process)", table: table, state: state, onInvalidChoice: nil)
    }

    @Test func aHookFallingBackToTheDefaultGetsTheDefaultRoutingNotTheFunction() throws {
        let hook = try loadedHook()
        let arguments = [QIPC.encode(.atom(.symbol("IBM"))), QIPC.encode(.atom(.symbol("MSFT")))]
        #expect(hook.route(function: "fallback", argumentMessages: arguments, defaultRouting: "IBM") == .routing("IBM"))
        #expect(
            hook.route(function: "proc1", argumentMessages: arguments, defaultRouting: "IBM")
                == .routing("proc1|IBM|2"))
        // No arguments: the default routing is the function name, as the broker gives it.
        #expect(hook.route(function: "fallback", argumentMessages: [], defaultRouting: "fallback") == .routing("fallback"))
        #expect(hook.route(function: "fallback", argumentMessages: [arguments[1]], defaultRouting: "") == .routing(""))
    }
}

import CMServePlugin

/// A dispatch algorithm behind a loaded plugin's C table: converts Swift values to the C views
/// the ABI defines, calls the plugin, and checks what it returns.
///
/// Used from one thread only (the broker's event loop), like the plugin it wraps. The buffers
/// are kept between calls so a dispatch decision allocates nothing once they have grown.
final class CDispatchAlgorithm: DispatchAlgorithm {
    let name: String
    private let path: String
    private let table: UnsafePointer<mserve_dispatch_plugin>
    private let state: UnsafeMutableRawPointer
    private let onInvalidChoice: (@Sendable (String) -> Void)?

    /// NUL-terminated strings of the servant views being built; offset 0 is the empty string.
    private var strings: [CChar] = [0]
    /// (name, host, lastRouting) offsets into `strings`, one per servant.
    private var stringOffsets: [(name: Int, host: Int, lastRouting: Int)] = []
    private var views: [mserve_servant_view] = []

    init(
        name: String,
        path: String,
        table: UnsafePointer<mserve_dispatch_plugin>,
        state: UnsafeMutableRawPointer,
        onInvalidChoice: (@Sendable (String) -> Void)?
    ) {
        self.name = name
        self.path = path
        self.table = table
        self.state = state
        self.onInvalidChoice = onInvalidChoice
    }

    deinit {
        table.pointee.destroy?(state)
    }

    func choose(routing: String, servants: [ServantView]) -> Int? {
        let choice = withServantViews(servants) { views in
            routing.withCString { routing in
                table.pointee.choose!(state, routing, views.baseAddress, views.count)
            }
        }
        if choice < 0 { return nil }
        guard choice < servants.count else {
            onInvalidChoice?("\(path): algorithm \"\(name)\" chose index \(choice) of \(servants.count) servants")
            return nil
        }
        let index = Int(choice)
        guard servants[index].isFree else {
            onInvalidChoice?("\(path): algorithm \"\(name)\" chose busy servant \(servants[index].name)")
            return nil
        }
        return index
    }

    func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {
        withServantViews([servant]) { views in
            routing.withCString { routing in
                table.pointee.completed!(state, views.baseAddress, routing, executionNanoseconds)
            }
        }
    }

    func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? {
        guard let route = table.pointee.route else { return nil }
        var capacity = 256
        for _ in 0..<2 {
            var output = [CChar](repeating: 0, count: capacity)
            let length = withQueryView(function: function, arguments: argumentMessages, defaultRouting: defaultRouting) {
                query in
                output.withUnsafeMutableBufferPointer { output in
                    withUnsafePointer(to: query) { query in
                        route(state, query, output.baseAddress, output.count)
                    }
                }
            }
            if length < 0 { return .refused }
            if length < capacity {
                let bytes = output[..<Int(length)].map { UInt8(bitPattern: $0) }
                return .routing(String(decoding: bytes, as: UTF8.self))
            }
            // Like snprintf: the hook returned the length it needs; try once more with room for it.
            capacity = Int(length) + 1
        }
        return .refused
    }

    // MARK: C views

    private static func append(_ string: String, to strings: inout [CChar]) -> Int {
        if string.isEmpty { return 0 }
        let offset = strings.count
        strings.append(contentsOf: string.utf8.lazy.map { CChar(bitPattern: $0) })
        strings.append(0)
        return offset
    }

    private func withServantViews<Result>(
        _ servants: [ServantView],
        _ body: (UnsafeBufferPointer<mserve_servant_view>) -> Result
    ) -> Result {
        // Built in locals and stored back: one exclusive access per call, not one per byte.
        var strings = self.strings
        self.strings = []
        strings.removeAll(keepingCapacity: true)
        strings.append(0)
        var stringOffsets = self.stringOffsets
        self.stringOffsets = []
        stringOffsets.removeAll(keepingCapacity: true)
        for servant in servants {
            stringOffsets.append(
                (
                    Self.append(servant.name, to: &strings), Self.append(servant.host, to: &strings),
                    Self.append(servant.lastRouting, to: &strings)
                ))
        }
        defer {
            self.strings = strings
            self.stringOffsets = stringOffsets
        }
        return strings.withUnsafeBufferPointer { strings in
            let base = strings.baseAddress!
            views.removeAll(keepingCapacity: true)
            for (servant, offsets) in zip(servants, stringOffsets) {
                views.append(
                    mserve_servant_view(
                        id: servant.id,
                        name: base + offsets.name,
                        host: base + offsets.host,
                        in_flight: UInt32(clamping: servant.inFlight),
                        capacity: UInt32(clamping: servant.capacity),
                        last_routing: base + offsets.lastRouting,
                        queries_served: servant.queriesServed,
                        mean_execution_ns: servant.meanExecutionNanoseconds
                    )
                )
            }
            return views.withUnsafeBufferPointer(body)
        }
    }

    private func withQueryView<Result>(
        function: String,
        arguments: [[UInt8]],
        defaultRouting: String,
        _ body: (mserve_query_view) -> Result
    ) -> Result {
        let bytes = arguments.flatMap { $0 }
        let lengths = arguments.map(\.count)
        return bytes.withUnsafeBufferPointer { bytes in
            var pointers: [UnsafePointer<UInt8>?] = []
            pointers.reserveCapacity(arguments.count)
            var offset = 0
            for length in lengths {
                pointers.append(bytes.baseAddress.map { $0 + offset })
                offset += length
            }
            return pointers.withUnsafeBufferPointer { pointers in
                lengths.withUnsafeBufferPointer { lengths in
                    function.withCString { function in
                        defaultRouting.withCString { defaultRouting in
                            body(
                                mserve_query_view(
                                    function: function,
                                    argument_count: arguments.count,
                                    arguments: pointers.baseAddress,
                                    argument_lengths: lengths.baseAddress,
                                    default_routing: defaultRouting
                                )
                            )
                        }
                    }
                }
            }
        }
    }
}

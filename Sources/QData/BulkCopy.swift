// The codec's only raw-memory code: bulk copies between byte arrays and arrays of
// fixed-width numbers. Element-by-element loops cannot reach the codec's throughput
// target (≥ 1 GB/s for long vectors), and these few functions are all it needs.
// Little-endian hosts only (x86-64, arm64), as kdb+'s own IPC default is.

enum BulkCopy {
    /// Appends the UTF-8 bytes of `text` to `bytes`, leaving out any NUL: read in the
    /// string's own storage, and copied in one go when it has none (the usual case; scanning
    /// the string's UTF-8 view byte by byte cost the broker 1 % of its loop, for two symbols
    /// a reply).
    static func appendUTF8DroppingNUL(_ text: String, to bytes: inout [UInt8]) {
        var text = text
        text.withUTF8 { utf8 in
            if utf8.contains(0) {
                for byte in utf8 where byte != 0 { bytes.append(byte) }
            } else {
                bytes.append(contentsOf: utf8)
            }
        }
    }

    /// Appends the raw bytes of `values` to `bytes`.
    @inline(__always)
    static func append<T: BitwiseCopyable>(_ values: [T], to bytes: inout [UInt8]) {
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    /// Appends the raw bytes of one value to `bytes`: one copy, not one append per byte.
    @inline(__always)
    static func append<T: BitwiseCopyable>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    /// Reads `count` values of `T` from `bytes` at `offset` (bounds checked by the caller).
    @inline(__always)
    static func read<T: BitwiseCopyable>(_: T.Type, count: Int, from bytes: [UInt8], at offset: Int) -> [T] {
        guard count > 0 else { return [] }
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + count * MemoryLayout<T>.stride)]))
            }
            initialized = count
        }
    }

    /// Appends the bytes of a span to `bytes` in one go.
    @inline(__always)
    static func append(_ span: Span<UInt8>, to bytes: inout [UInt8]) {
        span.withUnsafeBufferPointer { bytes.append(contentsOf: $0) }
    }

    /// The bytes of a span, copied into an array in one go.
    @inline(__always)
    static func bytes(of span: Span<UInt8>) -> [UInt8] {
        span.withUnsafeBufferPointer { Array($0) }
    }
}

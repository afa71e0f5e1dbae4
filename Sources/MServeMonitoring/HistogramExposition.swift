import MServeBroker

/// Writes a ``TimeHistogram`` the broker's loop counted in the Prometheus text format.
///
/// swift-prometheus's histograms are recorded one value at a time, under a lock: the loop's
/// pre-counted buckets cannot be handed to one. So `/metrics` emits the registry (counters and
/// gauges) and then these histogram families, in the same format: `# HELP`, `# TYPE … histogram`,
/// cumulative `_bucket{le="…"}` lines ending with `+Inf`, `_sum` (seconds) and `_count`.
enum HistogramExposition {
    /// Appends `histogram` as the family `name`, described by `help`, with `labels` on every line.
    static func append(
        _ histogram: TimeHistogram, name: String, help: String, labels: [(String, String)], into buffer: inout [UInt8]
    ) {
        buffer.append(contentsOf: "# HELP \(name) \(help)\n# TYPE \(name) histogram\n".utf8)
        let rendered = labels.map { "\($0.0)=\"\(escapedLabelValue($0.1))\"" }.joined(separator: ",")
        let prefix = rendered.isEmpty ? "" : rendered + ","
        let counts = histogram.bucketCounts
        var cumulative: UInt64 = 0
        for (index, count) in counts.enumerated() {
            cumulative &+= count
            let bound = index < TimeHistogram.boundsNanoseconds.count ? seconds(TimeHistogram.boundsNanoseconds[index]) : "+Inf"
            buffer.append(contentsOf: "\(name)_bucket{\(prefix)le=\"\(bound)\"} \(cumulative)\n".utf8)
        }
        let braced = rendered.isEmpty ? "" : "{\(rendered)}"
        buffer.append(contentsOf: "\(name)_sum\(braced) \(Double(histogram.sumNanoseconds) / 1e9)\n".utf8)
        buffer.append(contentsOf: "\(name)_count\(braced) \(cumulative)\n".utf8)
    }

    /// `nanoseconds` as decimal seconds with no trailing zeros past the first decimal: `0.00005`,
    /// `1.0`, `2.5` (how swift-prometheus writes a duration bound).
    static func seconds(_ nanoseconds: UInt64) -> String {
        let whole = nanoseconds / 1_000_000_000
        var fraction = String(nanoseconds % 1_000_000_000)
        fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
        while fraction.count > 1 && fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }

    /// A label value escaped as the text format requires: backslash, double quote, line feed.
    static func escapedLabelValue(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

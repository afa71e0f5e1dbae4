// What a ZeroMQ servant's READY announces, read from its IPC dictionary (docs/PROTOCOL.md,
// section 2, the READY row), with what was wrong in it.

import MServeProtocol
import QData
import ZeroMQ

/// A servant's READY, read: its incarnation, capacity, batch limit, name and functions.
///
/// The dictionary's keys must be a symbol vector. A READY whose incarnation cannot be read is
/// refused whole (``Reading/refused(_:)``): a restart could not be told from a repeated READY.
/// So is one past ``ReadyLimits``: more bytes than ``ReadyLimits/largestBody`` (not even
/// copied out of its frame, nor decompressed), more functions than
/// ``ReadyLimits/mostFunctions``, or a function name longer than ``ReadyLimits/longestName``;
/// what is read of one within them is a few milliseconds of the loop's time at most.
/// An optional field of the wrong type, or a value out of range, is replaced by what the
/// field's absence gives, and named in ``problems`` for the broker's warning; keys the broker
/// does not know (`pid`, `service`, a newer servant's) are not read.
struct ReadyAnnouncement: Equatable {
    /// The servant's incarnation, nonzero.
    var incarnation: UInt64
    /// Queries it runs at once, at least 1.
    var capacity = 1
    /// The most queries it takes in one QUERY, at least 1.
    var batchLimit = 1
    /// Its name, when it gave one.
    var name: String?
    /// The functions it serves.
    var functions = ServedFunctions.every
    /// Queries of this broker's earlier sessions it still runs (`running`): sent before the
    /// broker lost it (a cut link, a pause), they hold places of its capacity until their
    /// answers come.
    var running = 0
    /// What was wrong with fields that were not used as sent, one phrase each
    /// (`capacity is an int atom, not a long (using 1)`).
    var problems: [String] = []

    /// The most queries a servant may take in one QUERY, whatever its READY says.
    static let largestBatch = 1 << 20

    /// What reading a READY's body gave.
    enum Reading: Equatable {
        /// A READY to act on.
        case announced(ReadyAnnouncement)
        /// A READY that cannot be acted on, and why (a phrase after "ignored a READY").
        case refused(String)
    }

    /// Reads the READY whose dictionary is frame `index` of `frames` (none there: without
    /// one). A frame past ``ReadyLimits/largestBody`` is refused as it lies, without a copy.
    static func read(frame index: Int, of frames: ZMQFrames) -> Reading {
        guard index < frames.count else { return read(nil) }
        if let refusal = sizeRefusal(frames.size(ofFrame: index)) { return .refused(refusal) }
        return read(frames.copy(of: index))
    }

    /// Reads a READY's body, the IPC dictionary in the frame after the command (nil: none).
    static func read(_ body: [UInt8]?) -> Reading {
        guard let body else { return .refused("without a dictionary (its frame is missing)") }
        if let refusal = sizeRefusal(body.count) { return .refused(refusal) }
        if let size = QIPC.decompressedSize(of: body), size > ReadyLimits.largestBody {
            return .refused(
                "that decompresses to \(size) bytes: a READY may have at most \(ReadyLimits.largestBody) (docs/PROTOCOL.md)")
        }
        let value: QValue
        do {
            value = try QIPC.decode(body, maximumSize: ReadyLimits.largestBody).value
        } catch {
            return .refused("whose dictionary cannot be read: \(error.message)")
        }
        guard case .dictionary(let keys, let values, _) = value else {
            return .refused("whose body is \(Self.kind(of: value)), not a dictionary")
        }
        guard case .vector(.symbol(let names), _) = keys else {
            // `()!()` and a dictionary of no entries have no incarnation either.
            if keys.count == 0 { return .refused(Self.withoutIncarnation) }
            return .refused("whose dictionary's keys are \(Self.kind(of: keys)), not a symbol vector")
        }
        guard let items = values.items, items.count == names.count else {
            return .refused("whose dictionary has \(names.count) keys and \(values.count) values")
        }
        let entries = Array(zip(names, items))
        guard let incarnationValue = entries.last(where: { $0.0 == "incarnation" })?.1 else {
            return .refused(Self.withoutIncarnation)
        }
        guard case .atom(.long(let incarnation)) = incarnationValue else {
            return .refused("whose incarnation is \(Self.kind(of: incarnationValue)), not a nonzero long")
        }
        guard incarnation != 0 else { return .refused("whose incarnation is 0, not a nonzero long") }
        var announcement = ReadyAnnouncement(incarnation: UInt64(bitPattern: incarnation))
        for (key, value) in entries {
            switch key {
            case "capacity": announcement.capacity = announcement.readCount(key, value, atMost: Int.max)
            case "batch": announcement.batchLimit = announcement.readCount(key, value, atMost: Self.largestBatch)
            case "running":
                switch value {
                case .atom(.long(let number)) where number >= 0: announcement.running = Int(number)
                case .atom(.long(let number)): announcement.problems.append("running is \(number), below 0 (using 0)")
                default: announcement.problems.append("running is \(Self.kind(of: value)), not a long (using 0)")
                }
            case "name":
                switch value {
                case .atom(.symbol(let text)) where text.utf8.count > ReadyLimits.longestName:
                    announcement.problems.append(
                        "name is \(text.utf8.count) bytes long, over \(ReadyLimits.longestName) (ignored)")
                case .atom(.symbol(let text)) where !text.isEmpty: announcement.name = text
                case .atom(.symbol): announcement.problems.append("name is the empty symbol (ignored)")
                default: announcement.problems.append("name is \(Self.kind(of: value)), not a symbol (ignored)")
                }
            case "functions":
                switch value {
                case .vector(.symbol(let names), _):
                    if let refusal = Self.functionsRefusal(names) { return .refused(refusal) }
                    announcement.functions = ServedFunctions(announced: names)
                case .atom(.symbol(let name)):
                    if let refusal = Self.functionsRefusal([name]) { return .refused(refusal) }
                    announcement.functions = ServedFunctions(announced: [name])
                default:
                    announcement.functions = .every
                    announcement.problems.append(
                        "functions is \(Self.kind(of: value)), not a symbol vector (taken as every function)")
                }
            default: break
            }
        }
        return .announced(announcement)
    }

    /// Why a READY of `size` bytes is not read (a phrase after "ignored a READY"); nil when it may be.
    static func sizeRefusal(_ size: Int) -> String? {
        guard size > ReadyLimits.largestBody else { return nil }
        return "of \(size) bytes: a READY may have at most \(ReadyLimits.largestBody) (docs/PROTOCOL.md)"
    }

    /// Why a READY listing `names` as its functions is refused (a phrase after "ignored a
    /// READY"); nil when they are within ``ReadyLimits``.
    static func functionsRefusal(_ names: [String]) -> String? {
        if names.count > ReadyLimits.mostFunctions {
            return "listing \(names.count) functions: a READY may list at most \(ReadyLimits.mostFunctions) (docs/PROTOCOL.md)"
        }
        guard let long = names.first(where: { $0.utf8.count > ReadyLimits.longestName }) else { return nil }
        return "listing a function name of \(long.utf8.count) bytes: a function name may have at most \(ReadyLimits.longestName) (docs/PROTOCOL.md)"
    }

    /// q's name for `value`'s type with its article: "a long atom", "an int atom".
    static func kind(of value: QValue) -> String {
        let name = value.typeName
        return (name.first.map { "aeiou".contains($0) } ?? false ? "an " : "a ") + name
    }

    /// The refusal of a READY without the incarnation it needs.
    static let withoutIncarnation = "without an incarnation (a nonzero long, docs/PROTOCOL.md)"

    /// A count field (`capacity`, `batch`): a long from 1 to `atMost`; anything else gives 1
    /// (or `atMost`, for more), noted in ``problems``.
    private mutating func readCount(_ key: String, _ value: QValue, atMost largest: Int) -> Int {
        guard case .atom(.long(let number)) = value else {
            problems.append("\(key) is \(Self.kind(of: value)), not a long (using 1)")
            return 1
        }
        if number < 1 {
            problems.append("\(key) is \(number), below 1 (using 1)")
            return 1
        }
        if number > Int64(largest) {
            problems.append("\(key) is \(number), over \(largest) (using \(largest))")
            return largest
        }
        return Int(number)
    }

    /// What this READY announces otherwise than `applied`, the one in force, one phrase each
    /// (`capacity 3 (was 1)`); empty when it repeats it (a servant answers every HELLO with
    /// READY, and a HELLO may cross its first READY).
    func differences(from applied: ReadyAnnouncement) -> [String] {
        var differences: [String] = []
        if capacity != applied.capacity { differences.append("capacity \(capacity) (was \(applied.capacity))") }
        if batchLimit != applied.batchLimit { differences.append("batch \(batchLimit) (was \(applied.batchLimit))") }
        if functions != applied.functions { differences.append("other functions") }
        if name != applied.name {
            differences.append("name \(name.map { LogText.printable(Array($0.utf8)) } ?? "none") (was \(applied.name.map { LogText.printable(Array($0.utf8)) } ?? "none"))")
        }
        return differences
    }
}

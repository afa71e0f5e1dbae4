import Foundation

/// Serializes q values (payload only) into a byte array, little-endian.
struct QIPCWriter {
    var bytes: [UInt8]

    mutating func write(_ value: QValue) {
        switch value {
        case .atom(let atom): writeAtom(atom)
        case .vector(let vector, let attribute): writeVector(vector, attribute: attribute)
        case .list(let items, let attribute):
            bytes.append(0)
            bytes.append(attribute.rawValue)
            QIPC.appendInt32(Int32(truncatingIfNeeded: items.count), to: &bytes)
            for item in items { write(item) }
        case .dictionary(let keys, let values, let sorted):
            bytes.append(sorted ? 127 : 99)
            write(keys)
            write(values)
        case .table(let table, let attribute):
            bytes.append(98)
            bytes.append(attribute.rawValue)
            bytes.append(99)
            writeVector(.symbol(table.columns), attribute: .none)
            write(.list(table.values))
        case .error(let text):
            bytes.append(0x80)
            writeSymbol(text)
        case .identity:
            bytes.append(101)
            bytes.append(0)
        }
    }

    private mutating func writeSymbol(_ text: String) {
        QIPC.appendSymbolText(text, to: &bytes)
    }

    private mutating func appendInteger<T: FixedWidthInteger & BitwiseCopyable>(_ value: T) {
        BulkCopy.append(value.littleEndian, to: &bytes)
    }

    private mutating func appendGUID(_ uuid: UUID) {
        let u = uuid.uuid
        bytes.append(contentsOf: [
            u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15,
        ])
    }

    private mutating func writeAtom(_ atom: QAtom) {
        bytes.append(UInt8(bitPattern: -atom.typeCode.rawValue))
        switch atom {
        case .boolean(let v): bytes.append(v ? 1 : 0)
        case .guid(let v): appendGUID(v)
        case .byte(let v), .char(let v): bytes.append(v)
        case .short(let v): appendInteger(v)
        case .int(let v), .month(let v), .date(let v), .minute(let v), .second(let v), .time(let v): appendInteger(v)
        case .long(let v), .timestamp(let v), .timespan(let v): appendInteger(v)
        case .real(let v): appendInteger(v.bitPattern)
        case .float(let v), .datetime(let v): appendInteger(v.bitPattern)
        case .symbol(let v): writeSymbol(v)
        }
    }

    private mutating func writeVector(_ vector: QVector, attribute: QAttribute) {
        bytes.append(UInt8(vector.typeCode.rawValue))
        bytes.append(attribute.rawValue)
        QIPC.appendInt32(Int32(truncatingIfNeeded: vector.count), to: &bytes)
        switch vector {
        case .boolean(let v): for element in v { bytes.append(element ? 1 : 0) }
        case .guid(let v): for element in v { appendGUID(element) }
        case .byte(let v), .char(let v): bytes.append(contentsOf: v)
        case .short(let v): BulkCopy.append(v, to: &bytes)
        case .int(let v), .month(let v), .date(let v), .minute(let v), .second(let v), .time(let v):
            BulkCopy.append(v, to: &bytes)
        case .long(let v), .timestamp(let v), .timespan(let v): BulkCopy.append(v, to: &bytes)
        case .real(let v): BulkCopy.append(v, to: &bytes)
        case .float(let v), .datetime(let v): BulkCopy.append(v, to: &bytes)
        case .symbol(let v): for element in v { writeSymbol(element) }
        }
    }
}

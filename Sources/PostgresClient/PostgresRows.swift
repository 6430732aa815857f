/// A PostgreSQL type, by OID, with the names of the built-in ones.
public struct PostgresDataType: Hashable, Sendable, CustomStringConvertible {
    public var oid: UInt32

    public init(oid: UInt32) {
        self.oid = oid
    }

    public static let bool = PostgresDataType(oid: 16)
    public static let bytea = PostgresDataType(oid: 17)
    public static let char = PostgresDataType(oid: 18)
    public static let name = PostgresDataType(oid: 19)
    public static let int8 = PostgresDataType(oid: 20)
    public static let int2 = PostgresDataType(oid: 21)
    public static let int4 = PostgresDataType(oid: 23)
    public static let text = PostgresDataType(oid: 25)
    public static let oidType = PostgresDataType(oid: 26)
    public static let json = PostgresDataType(oid: 114)
    public static let xml = PostgresDataType(oid: 142)
    public static let float4 = PostgresDataType(oid: 700)
    public static let float8 = PostgresDataType(oid: 701)
    public static let unknown = PostgresDataType(oid: 705)
    public static let bpchar = PostgresDataType(oid: 1042)
    public static let varchar = PostgresDataType(oid: 1043)
    public static let date = PostgresDataType(oid: 1082)
    public static let time = PostgresDataType(oid: 1083)
    public static let timestamp = PostgresDataType(oid: 1114)
    public static let timestamptz = PostgresDataType(oid: 1184)
    public static let interval = PostgresDataType(oid: 1186)
    public static let numeric = PostgresDataType(oid: 1700)
    public static let uuid = PostgresDataType(oid: 2950)
    public static let jsonb = PostgresDataType(oid: 3802)

    private static let names: [UInt32: String] = [
        16: "boolean", 17: "bytea", 18: "\"char\"", 19: "name", 20: "bigint", 21: "smallint", 23: "integer",
        25: "text", 26: "oid", 114: "json", 142: "xml", 700: "real", 701: "double precision", 705: "unknown",
        1042: "character", 1043: "character varying", 1082: "date", 1083: "time without time zone",
        1114: "timestamp without time zone", 1184: "timestamp with time zone", 1186: "interval",
        1700: "numeric", 2950: "uuid", 3802: "jsonb",
    ]

    /// The SQL name of a built-in type (`integer`), or `type OID n` for others
    /// (enums, domains and extension types have database-specific OIDs).
    public var description: String {
        Self.names[oid] ?? "type OID \(oid)"
    }
}

/// A column of a result: its name and type.
public struct PostgresColumn: Hashable, Sendable {
    public var name: String
    public var dataType: PostgresDataType

    public init(name: String, dataType: PostgresDataType) {
        self.name = name
        self.dataType = dataType
    }
}

/// The columns of a result and where each name is, shared by all its rows.
final class PostgresColumnLayout: Sendable {
    let columns: [PostgresColumn]
    private let positions: [String: Int]

    init(columns: [PostgresColumn]) {
        self.columns = columns
        var positions: [String: Int] = [:]
        for (index, column) in columns.enumerated() where positions[column.name] == nil {
            positions[column.name] = index  // the first of duplicate names wins, as in psql
        }
        self.positions = positions
    }

    func position(of name: String) -> Int? {
        positions[name]
    }
}

/// The result of a statement, copied out of libpq: its rows, column names and
/// types, and the command tag. A value; safe to keep and share.
public struct PostgresRows: RandomAccessCollection, Sendable {
    let layout: PostgresColumnLayout
    /// Row-major cells in text format; nil is SQL NULL.
    let cells: [String?]

    /// The statement's command tag (`INSERT 0 3`, `SELECT 2`).
    public let commandTag: String
    /// Rows inserted, updated, deleted, selected, ... per the command tag; 0 if it names none.
    public let affectedRows: Int
    /// The SQL text that produced these rows (for error messages).
    public let query: String

    init(columns: [PostgresColumn], cells: [String?], commandTag: String, affectedRows: Int, query: String) {
        self.layout = PostgresColumnLayout(columns: columns)
        self.cells = cells
        self.commandTag = commandTag
        self.affectedRows = affectedRows
        self.query = query
    }

    public var columns: [PostgresColumn] { layout.columns }

    public var startIndex: Int { 0 }

    public var endIndex: Int {
        layout.columns.isEmpty ? 0 : cells.count / layout.columns.count
    }

    /// The one row a statement such as `SELECT f(...)` returns; a decoding
    /// error (never a trap) when the server sent none or several.
    public func onlyRow() throws(PostgresError) -> PostgresRow {
        guard count == 1 else {
            var error = PostgresError(code: .decoding, message: "expected one row, the server returned \(count)")
            error.query = query
            throw error
        }
        return self[startIndex]
    }

    public subscript(position: Int) -> PostgresRow {
        precondition(indices.contains(position), "row index \(position) out of range 0..<\(count)")
        let width = layout.columns.count
        return PostgresRow(layout: layout, cells: cells[position * width..<(position + 1) * width], index: position, query: query)
    }
}

/// One row of a result. Read a column by name or position:
///
///     let name = try row["name"].decode(String.self)
///     let description = try row["description"].decode(String?.self)
///     let id = try row[0].decode(Int64.self)
public struct PostgresRow: Sendable {
    let layout: PostgresColumnLayout
    let cells: ArraySlice<String?>
    /// The row's position in its result.
    public let index: Int
    let query: String

    public var columns: [PostgresColumn] { layout.columns }

    /// The cell of the named column (the first, if several share the name).
    public subscript(name: String) -> PostgresCell {
        get throws(PostgresError) {
            guard let position = layout.position(of: name) else {
                let known = layout.columns.map(\.name).joined(separator: ", ")
                var error = PostgresError(
                    code: .decoding,
                    message: "no column named \"\(name)\" in the result (columns: \(known.isEmpty ? "none" : known))"
                )
                error.query = query
                throw error
            }
            return cell(at: position)
        }
    }

    /// The cell at a column position (0-based).
    public subscript(position: Int) -> PostgresCell {
        get throws(PostgresError) {
            guard layout.columns.indices.contains(position) else {
                var error = PostgresError(
                    code: .decoding,
                    message: "no column at position \(position) in the result (it has \(layout.columns.count))"
                )
                error.query = query
                throw error
            }
            return cell(at: position)
        }
    }

    /// Decodes the named column: `try row.decode("name", as: String.self)`.
    public func decode<Value: PostgresDecodable>(_ column: String, as type: Value.Type = Value.self) throws(PostgresError) -> Value {
        try self[column].decode(type)
    }

    private func cell(at position: Int) -> PostgresCell {
        PostgresCell(
            column: layout.columns[position],
            columnIndex: position,
            rowIndex: index,
            text: cells[cells.startIndex + position],
            query: query
        )
    }
}

/// One value of a row, with its column's name and type, in PostgreSQL's text format.
public struct PostgresCell: Sendable {
    public let column: PostgresColumn
    public let columnIndex: Int
    public let rowIndex: Int
    /// The value's text form; nil is SQL NULL.
    public let text: String?
    let query: String

    public var isNull: Bool { text == nil }

    /// Decodes the value as `Value`; ask for an Optional (`String?.self`) when
    /// the column may be NULL.
    public func decode<Value: PostgresDecodable>(_ type: Value.Type = Value.self) throws(PostgresError) -> Value {
        try Value.decode(from: self)
    }

    /// A decoding error naming this cell's column, type and row.
    public func decodingError(_ swiftType: Any.Type, reason: String? = nil) -> PostgresError {
        var message = "cannot decode column \"\(column.name)\" (\(column.dataType)) of row \(rowIndex) as \(swiftType)"
        if let reason { message += ": \(reason)" }
        var error = PostgresError(code: .decoding, message: message)
        error.columnName = column.name
        error.query = query
        return error
    }
}

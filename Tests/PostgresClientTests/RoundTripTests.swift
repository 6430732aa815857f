import Foundation
import PostgresClient
import Testing

@Suite("Parameters and decoding against PostgreSQL")
struct RoundTripTests {
    @Test("text with quotes, unicode, newlines and SQL injection is stored verbatim")
    func text() async throws {
        try await TestDatabase.withTable("text", columns: "id serial PRIMARY KEY, body text, label varchar(200)") { connection, table in
            let victim = TestDatabase.uniqueName("victim")
            try await connection.execute("CREATE TABLE \(victim) (x int)")
            let values = [
                "plain",
                "it's \"quoted\" \\ back\\slash",
                "ünïcödé — 日本語 — 🎉",
                "line one\nline two\r\n\ttabbed",
                "'); DROP TABLE \(victim); --",
                "$1 $2 ? %s",
                "",
            ]
            for value in values {
                let inserted = try await connection.execute(
                    "INSERT INTO \(table) (body, label) VALUES ($1, $2)", [.text(value), PostgresValue(value)]
                )
                #expect(inserted == 1)
            }
            let rows = try await connection.query("SELECT body, label FROM \(table) ORDER BY id")
            #expect(rows.count == values.count)
            for (row, value) in zip(rows, values) {
                #expect(try row["body"].decode(String.self) == value)
                #expect(try row[1].decode(String.self) == value)
            }
            // The would-be injection did nothing: the other table is still there.
            let stillThere = try await connection.query("SELECT to_regclass($1) IS NOT NULL AS present", [.text(victim)])
            #expect(try stillThere[0]["present"].decode(Bool.self))
            try await connection.execute("DROP TABLE \(victim)")

            // Found by a parameterized WHERE, too.
            let found = try await connection.query("SELECT count(*) AS n FROM \(table) WHERE body = $1", [.text(values[4])])
            #expect(try found[0]["n"].decode(Int.self) == 1)
        }
    }

    @Test("a NUL character in text is rejected, not truncated")
    func nulCharacter() async throws {
        let connection = try await TestDatabase.connect()
        let error = try await #require(throws: PostgresError.self) {
            try await connection.query("SELECT $1::text", [.text("a\u{0}b")])
        }
        #expect(error.code == .invalidParameter)
        await connection.close()
    }

    @Test("integers including the Int64 extremes")
    func integers() async throws {
        try await TestDatabase.withTable("ints", columns: "id serial PRIMARY KEY, big bigint, small integer, tiny smallint") { connection, table in
            let values: [Int64] = [0, 1, -1, 42, Int64(Int32.max), Int64(Int32.min), .max, .min]
            for value in values {
                let small: PostgresValue = Int32(exactly: value).map { .int(Int64($0)) } ?? .null
                try await connection.execute("INSERT INTO \(table) (big, small, tiny) VALUES ($1, $2, $3)", [.int(value), small, 7])
            }
            let rows = try await connection.query("SELECT big, small, tiny FROM \(table) ORDER BY id")
            #expect(try rows.map { try $0["big"].decode(Int64.self) } == values)
            #expect(try rows.map { try $0["big"].decode(Int.self) } == values.map { Int($0) })
            #expect(try rows.map { try $0["small"].decode(Int32?.self) } == values.map { Int32(exactly: $0) })
            #expect(try rows[0]["tiny"].decode(Int.self) == 7)
            #expect(rows.columns.map(\.dataType) == [.int8, .int4, .int2])

            // Int32 rejects a bigint that does not fit.
            let error = try #require(throws: PostgresError.self) { try rows[6]["big"].decode(Int32.self) }
            #expect(error.code == .decoding)
            #expect(error.message.contains("\"big\""))
        }
    }

    @Test("booleans, doubles and NULLs")
    func scalars() async throws {
        try await TestDatabase.withTable("scalars", columns: "id serial PRIMARY KEY, flag boolean, ratio double precision, note text") { connection, table in
            let doubles: [Double] = [0, -0.5, 3.141592653589793, 1e-300, 1.7976931348623157e308, .infinity, -.infinity]
            for (index, ratio) in doubles.enumerated() {
                try await connection.execute(
                    "INSERT INTO \(table) (flag, ratio, note) VALUES ($1, $2, $3)",
                    [.bool(index % 2 == 0), .double(ratio), index == 0 ? nil : PostgresValue(String?("n\(index)"))]
                )
            }
            try await connection.execute("INSERT INTO \(table) (flag, ratio, note) VALUES ($1, $2, $3)", [nil, nil, nil])
            try await connection.execute("INSERT INTO \(table) (ratio) VALUES ($1)", [.double(.nan)])

            let rows = try await connection.query("SELECT flag, ratio, note FROM \(table) ORDER BY id")
            for (index, ratio) in doubles.enumerated() {
                #expect(try rows[index]["flag"].decode(Bool.self) == (index % 2 == 0))
                #expect(try rows[index]["ratio"].decode(Double.self) == ratio)
                #expect(try rows[index]["note"].decode(String?.self) == (index == 0 ? nil : "n\(index)"))
            }
            let nulls = rows[doubles.count]
            #expect(try nulls["flag"].decode(Bool?.self) == nil)
            #expect(try nulls["ratio"].decode(Double?.self) == nil)
            #expect(try nulls["note"].decode(String?.self) == nil)
            #expect(try nulls["note"].isNull)
            #expect(try rows[doubles.count + 1]["ratio"].decode(Double.self).isNaN)

            // NULL as a non-optional type is a clear error.
            let error = try #require(throws: PostgresError.self) { try nulls["note"].decode(String.self) }
            #expect(error.code == .decoding)
            #expect(error.message.contains("\"note\""))
            #expect(error.message.contains("NULL"))
        }
    }

    @Test("timestamps without and with time zone round-trip as UTC")
    func timestamps() async throws {
        try await TestDatabase.withTable("times", columns: "id serial PRIMARY KEY, naive timestamp, aware timestamptz") { connection, table in
            let dates = [
                Date(timeIntervalSince1970: 0),
                Date(timeIntervalSince1970: 1_717_171_717.123456),
                Date(timeIntervalSince1970: 951_782_400.5),  // 2000-02-29 00:00:00.5 UTC
                Date(timeIntervalSince1970: -1_000_000_000.25),  // 1938
                Date(timeIntervalSince1970: 4_102_444_800),  // 2100-01-01
            ]
            for date in dates {
                try await connection.execute("INSERT INTO \(table) (naive, aware) VALUES ($1, $2)", [.timestamp(date), PostgresValue(date)])
            }
            let rows = try await connection.query(
                "SELECT naive, aware, to_char(naive, 'YYYY-MM-DD HH24:MI:SS.US') AS naive_text FROM \(table) ORDER BY id"
            )
            for (row, date) in zip(rows, dates) {
                #expect(abs(try row["naive"].decode(Date.self).timeIntervalSince(date)) < 1e-6)
                #expect(abs(try row["aware"].decode(Date.self).timeIntervalSince(date)) < 1e-6)
            }
            // The naive column holds the UTC wall-clock time, as Mistral expects.
            #expect(try rows[1]["naive_text"].decode(String.self) == "2024-05-31 16:08:37.123456")
            #expect(try rows[2]["naive_text"].decode(String.self) == "2000-02-29 00:00:00.500000")

            // Comparing a naive column with a Date parameter works in UTC too.
            let match = try await connection.query("SELECT count(*) AS n FROM \(table) WHERE naive = $1", [.timestamp(dates[1])])
            #expect(try match[0]["n"].decode(Int.self) == 1)
        }
    }

    @Test("timestamps the server writes: offsets, BC, dates, infinity")
    func serverTimestamps() async throws {
        let connection = try await TestDatabase.connect()
        let rows = try await connection.query("""
            SELECT '2024-02-29 23:59:59.999999+05:30'::timestamptz AS aware,
                   '2024-02-29 23:59:59'::timestamp AS naive,
                   '0044-03-15 12:00:00 BC'::timestamp AS ides,
                   '2024-07-01'::date AS day,
                   'infinity'::timestamp AS forever,
                   now() AS now_aware, now()::timestamp AS now_naive
            """)
        let row = try #require(rows.first)
        let aware = try row["aware"].decode(Date.self)
        #expect(abs(aware.timeIntervalSince1970 - 1_709_231_399.999999) < 1e-6)  // 18:29:59.999999 UTC
        #expect(try row["naive"].decode(Date.self) == Date(timeIntervalSince1970: 1_709_251_199))
        // 15 March 44 BC (astronomical year -43), noon UTC.
        #expect(try row["ides"].decode(Date.self) == Date(timeIntervalSince1970: -63_517_780_800))
        #expect(try row["day"].decode(Date.self) == Date(timeIntervalSince1970: 1_719_792_000))
        #expect(abs(try row["now_aware"].decode(Date.self).timeIntervalSince(row["now_naive"].decode(Date.self))) < 1e-6)
        let error = try #require(throws: PostgresError.self) { try row["forever"].decode(Date.self) }
        #expect(error.code == .decoding)
        #expect(error.message.contains("infinity"))
        // BC dates go back out the same way.
        let back = try await connection.query("SELECT $1::timestamp = '0044-03-15 12:00:00 BC'::timestamp AS same", [
            .timestamp(Date(timeIntervalSince1970: -63_517_780_800)),
        ])
        #expect(try back[0]["same"].decode(Bool.self))
        await connection.close()
    }

    struct Workflow: Codable, Equatable {
        var name: String
        var tags: [String]
        var retries: Int
        var nested: [String: Double]
    }

    @Test("json and jsonb: raw text, Codable, Foundation objects")
    func json() async throws {
        try await TestDatabase.withTable("json", columns: "id serial PRIMARY KEY, doc json, bin jsonb") { connection, table in
            let workflow = Workflow(name: "it's \"wf\" ✓", tags: ["a", "b"], retries: 3, nested: ["x": 1.5])
            try await connection.execute(
                "INSERT INTO \(table) (doc, bin) VALUES ($1, $2)",
                [try .json(encoding: workflow), try .json(encoding: workflow)]
            )
            try await connection.execute("INSERT INTO \(table) (doc, bin) VALUES ($1, $2)", [.json("{\"k\": [1, null, true]}"), .jsonb("[1, 2]")])
            try await connection.execute("INSERT INTO \(table) (doc, bin) VALUES ($1, $2)", [nil, .text("{\"t\": 1}")])

            let rows = try await connection.query("SELECT doc, bin FROM \(table) ORDER BY id")
            #expect(rows.columns.map(\.dataType) == [.json, .jsonb])
            #expect(try rows[0]["doc"].decodeJSON(Workflow.self) == workflow)
            #expect(try rows[0]["bin"].decodeJSON(Workflow.self) == workflow)
            #expect(try rows[1]["doc"].decode(String.self) == "{\"k\": [1, null, true]}")  // json keeps the text
            #expect(try rows[1]["bin"].decode(String.self) == "[1, 2]")
            #expect(try rows[1]["bin"].decodeJSON([Int].self) == [1, 2])
            #expect(try rows[2]["doc"].isNull)
            #expect(try rows[2]["bin"].decodeJSON([String: Int].self) == ["t": 1])

            // jsonb operators with a jsonb parameter.
            let contains = try await connection.query("SELECT count(*) AS n FROM \(table) WHERE bin @> $1", [.jsonb("{\"retries\": 3}")])
            #expect(try contains[0]["n"].decode(Int.self) == 1)
        }
    }

    @Test("bytea, uuid and numeric")
    func otherTypes() async throws {
        let connection = try await TestDatabase.connect()
        let bytes: [UInt8] = [0, 1, 0x7f, 0x80, 0xff, 0x27, 0x5c]
        let uuid = UUID()
        let rows = try await connection.query(
            "SELECT $1::bytea AS b, $2::uuid AS u, 12345678901234567890.125::numeric AS n, sum(x) AS total FROM (VALUES (1::bigint), (2)) v(x)",
            [.bytes(bytes), .uuid(uuid)]
        )
        #expect(try rows[0]["b"].decode([UInt8].self) == bytes)
        #expect(try rows[0]["b"].decode(Data.self) == Data(bytes))
        #expect(try rows[0]["u"].decode(UUID.self) == uuid)
        #expect(try rows[0]["n"].decode(String.self) == "12345678901234567890.125")
        #expect(try rows[0]["n"].decode(Decimal.self) == Decimal(string: "12345678901234567890.125"))
        #expect(try rows[0]["total"].decode(Int.self) == 3)  // sum(bigint) is numeric
        await connection.close()
    }

    @Test("decoding as the wrong type names the column and both types")
    func wrongType() async throws {
        let connection = try await TestDatabase.connect()
        let rows = try await connection.query("SELECT 42 AS answer, 'forty-two' AS word, true AS flag")
        let row = rows[0]
        let asString = try #require(throws: PostgresError.self) { try row["answer"].decode(String.self) }
        #expect(asString.code == .decoding)
        #expect(asString.message.contains("\"answer\""))
        #expect(asString.message.contains("integer"))
        #expect(asString.message.contains("String"))
        let asInt = try #require(throws: PostgresError.self) { try row["word"].decode(Int.self) }
        #expect(asInt.message.contains("\"word\""))
        #expect(asInt.message.contains("text"))
        let asDate = try #require(throws: PostgresError.self) { try row["flag"].decode(Date.self) }
        #expect(asDate.message.contains("boolean"))
        let missing = try #require(throws: PostgresError.self) { try row["nope"].decode(Int.self) }
        #expect(missing.message.contains("no column named \"nope\""))
        #expect(missing.message.contains("answer, word, flag"))
        let outOfRange = try #require(throws: PostgresError.self) { try row[3].decode(Int.self) }
        #expect(outOfRange.message.contains("position 3"))
        #expect(try row.decode("answer", as: Int.self) == 42)
        await connection.close()
    }

    @Test("statements without rows report affected rows and the command tag")
    func affectedRows() async throws {
        try await TestDatabase.withTable("affected", columns: "id int PRIMARY KEY, v text") { connection, table in
            #expect(try await connection.execute("INSERT INTO \(table) SELECT g, 'x' FROM generate_series(1, 5) g") == 5)
            #expect(try await connection.execute("UPDATE \(table) SET v = $1 WHERE id > $2", ["y", 2]) == 3)
            let deleted = try await connection.query("DELETE FROM \(table) WHERE v = $1", ["y"])
            #expect(deleted.affectedRows == 3)
            #expect(deleted.commandTag == "DELETE 3")
            #expect(deleted.isEmpty)
            #expect(try await connection.execute("SELECT 1") == 1)
        }
    }
}

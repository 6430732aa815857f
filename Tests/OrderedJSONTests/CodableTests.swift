import Foundation
import OrderedJSON
import Testing

@Suite struct CodableTests {
    struct Payload: Codable, Equatable {
        var name: String
        var count: Int
        var ratio: Double
        var tags: [String]
        var nested: [String: Bool]
        var missing: String?
    }

    @Test func encodableToJSONAndBack() throws {
        let payload = Payload(name: "x", count: 3, ratio: 0.25, tags: ["a", "b"], nested: ["k": true], missing: nil)
        let json = try JSON(encoding: payload)
        #expect(json["name"] == "x")
        #expect(json["count"] == 3)
        #expect(json["ratio"] == 0.25)
        #expect(json["tags"] == ["a", "b"])
        #expect(json["nested"] == ["k": true])
        #expect(try json.decode(Payload.self) == payload)
    }

    @Test func jsonIsCodable() throws {
        let value: JSON = ["a": [1, 2.5, "s", true, nil], "b": ["c": [:]], "big": .integer(.max)]
        let data = try JSONEncoder().encode(value)
        let decoded = try JSONDecoder().decode(JSON.self, from: data)
        #expect(decoded == value)
        #expect(try JSON(parsing: data) == value)
    }

    @Test func decodingMismatchThrows() {
        let json: JSON = ["name": 1]
        #expect(throws: (any Error).self) { try json.decode(Payload.self) }
    }
}

import OrderedJSON
import Testing

@Suite struct JSONObjectTests {
    @Test(arguments: [3, JSONObject.linearSearchLimit, JSONObject.linearSearchLimit + 1, 200])
    func lookupInsertUpdateRemove(size: Int) throws {
        var object = JSONObject()
        for index in 0..<size {
            object["key\(index)"] = .integer(Int64(index))
        }
        #expect(object.count == size)
        #expect(object.keys == (0..<size).map { "key\($0)" })
        for index in 0..<size {
            #expect(object["key\(index)"] == .integer(Int64(index)))
            #expect(object.index(forKey: "key\(index)") == index)
        }
        #expect(object["nope"] == nil)

        // Updating keeps the position.
        #expect(object.updateValue("new", forKey: "key0") == 0)
        #expect(object[0].key == "key0")
        #expect(object[0].value == "new")

        // Removing shifts later members and keeps lookups right.
        #expect(object.removeValue(forKey: "key1") == 1)
        #expect(object.count == size - 1)
        #expect(object["key1"] == nil)
        for index in 2..<size {
            #expect(object["key\(index)"] == .integer(Int64(index)))
            #expect(object.index(forKey: "key\(index)") == index - 1)
        }
        object["key1"] = true
        #expect(object.keys.last == "key1")
        object["key1"] = nil
        #expect(object.contains(key: "key1") == false)
    }

    @Test func appendUniqueKeys() {
        var object = JSONObject()
        for index in 0..<40 {
            object.append(uniqueKey: "k\(index)", value: .integer(Int64(index)))
        }
        #expect(object.count == 40)
        #expect(object["k39"] == 39)
        #expect(object.index(forKey: "k20") == 20)
    }

    @Test func equalityIgnoresOrderButIdentityDoesNot() {
        let first: JSONObject = ["a": 1, "b": [2, ["c": 3, "d": 4]]]
        let second: JSONObject = ["b": [2, ["d": 4, "c": 3]], "a": 1]
        #expect(first == second)
        #expect(first.hashValue == second.hashValue)
        #expect(!first.isIdentical(to: second))
        #expect(first.isIdentical(to: ["a": 1, "b": [2, ["c": 3, "d": 4]]]))
        #expect(first != ["a": 1])
        #expect(first != ["a": 2, "b": [2, ["c": 3, "d": 4]]])
        #expect(JSON.integer(1) != JSON.double(1))
        #expect(Set([JSON(first), JSON(second)]).count == 1)
    }

    @Test func collectionHelpers() {
        var object: JSONObject = ["a": 1, "b": 2, "c": 3]
        #expect(object.filter { $0.key != "b" }.keys == ["a", "c"])
        #expect(object.mapValues { .integer(($0.int64Value ?? 0) * 10) } == ["a": 10, "b": 20, "c": 30])
        object.merge(["b": "x", "d": 4])
        #expect(object.keys == ["a", "b", "c", "d"])
        #expect(object["b"] == "x")
        #expect(object.map(\.key) == ["a", "b", "c", "d"])
        #expect(object.values == [1, "x", 3, 4])
        object.removeAll()
        #expect(object.isEmpty)
        #expect(JSONObject([("x", 1), ("y", 2), ("x", 3)]).isIdentical(to: ["x": 3, "y": 2]))
    }

    @Test func accessors() {
        let value: JSON = ["s": "text", "i": 42, "d": 2.5, "b": true, "n": nil, "a": [1], "o": ["k": "v"]]
        #expect(value["s"]?.stringValue == "text")
        #expect(value["i"]?.intValue == 42)
        #expect(value["i"]?.int64Value == 42)
        #expect(value["i"]?.doubleValue == 42)
        #expect(value["d"]?.doubleValue == 2.5)
        #expect(value["d"]?.intValue == nil)
        #expect(value["b"]?.boolValue == true)
        #expect(value["n"]?.isNull == true)
        #expect(value["a"]?.arrayValue == [1])
        #expect(value["o"]?.objectValue == ["k": "v"])
        #expect(value["s"]?.intValue == nil)
        #expect(value.stringValue == nil)
        #expect(value[0] == nil)
        #expect(value["a"]?[0] == 1)
        #expect(value["a"]?[-1] == nil)
        #expect(value.typeName == "object")
        #expect(JSON(nilLiteral: ()).typeName == "null")
    }
}

extension JSON {
    init(_ object: JSONObject) { self = .object(object) }
}

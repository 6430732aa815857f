import CLibPQ

/// Facts about the linked libpq that need no connection.
enum LibPQ {
    /// Every connection keyword the linked libpq accepts (`sslmode`,
    /// `connect_timeout`, ...), so URL options can be checked before connecting.
    ///
    /// PQconninfoParse of an empty string only lists the keywords: it reads no
    /// environment, file or network, so calling it off the connection queues
    /// keeps the rule that blocking libpq calls stay off the cooperative pool.
    static let connectionKeywords: Set<String> = {
        var keywords: Set<String> = []
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse("", &errorMessage) else {
            if let errorMessage { PQfreemem(errorMessage) }
            return keywords
        }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            keywords.insert(String(cString: keyword))
            option += 1
        }
        return keywords
    }()
}

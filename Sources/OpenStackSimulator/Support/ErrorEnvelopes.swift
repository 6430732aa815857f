import OrderedJSON

/// A failed service call: the status and message, rendered later in the envelope of
/// whichever service answered (api-facts §0).
struct ServiceFailure: Error, Sendable {
    var status: Int
    var message: String
    /// Nova/Cinder put `retryAfter` inside an `overLimit` fault when the error carried one.
    var retryAfter: String?
    var headers: [(String, String)]

    init(_ status: Int, _ message: String, retryAfter: String? = nil, headers: [(String, String)] = []) {
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
        self.headers = headers
    }

    static func badRequest(_ message: String) -> ServiceFailure { ServiceFailure(400, message) }
    static func notFound(_ message: String) -> ServiceFailure { ServiceFailure(404, message) }
    static func conflict(_ message: String) -> ServiceFailure { ServiceFailure(409, message) }
}

/// Error bodies in each service's own format.
enum ErrorEnvelope {
    /// Renders `failure` as `service` would.
    static func response(
        for failure: ServiceFailure, service: OpenStackService, acceptsJSON: Bool, extraHeaders: [(String, String)] = []
    ) -> HTTPResponseData {
        let (contentType, body) = render(
            service: service, status: failure.status, message: failure.message, retryAfter: failure.retryAfter,
            acceptsJSON: acceptsJSON)
        var headers = [("Content-Type", contentType)] + failure.headers + extraHeaders
        if let retryAfter = failure.retryAfter, !headers.contains(where: { $0.0.lowercased() == "retry-after" }) {
            headers.append(("Retry-After", retryAfter))
        }
        return HTTPResponseData(status: failure.status, headers: headers, body: body)
    }

    static func render(
        service: OpenStackService, status: Int, message: String, retryAfter: String?, acceptsJSON: Bool
    ) -> (String, [UInt8]) {
        switch service {
        case .identity:
            return ("application/json", encode(keystoneBody(status: status, message: message)))
        case .image:
            // Glance answers with webob's own error page (api-facts §4).
            if acceptsJSON {
                let body: JSON = [
                    "message": .string(message + "<br /><br />\n\n\n"),
                    "code": .string("\(status) \(reasonPhrase(status))"),
                    "title": .string(reasonPhrase(status)),
                ]
                return ("application/json", encode(body))
            }
            let text = "\(status) \(reasonPhrase(status))\n\n\(message)\n\n   "
            return ("text/plain; charset=UTF-8", Array(text.utf8))
        case .compute, .blockStorage, .database:
            var fault: JSONObject = ["code": .integer(Int64(status)), "message": .string(message)]
            let name = faultName(service: service, status: status)
            if let retryAfter, name == "overLimit", service != .database {
                fault["retryAfter"] = .string(retryAfter)
            }
            return ("application/json", encode(.object([name: .object(fault)])))
        }
    }

    /// `{"error": {"code", "title", "message"}}`: Keystone's format, also what keystonemiddleware
    /// answers on every service for a missing or bad token.
    static func keystoneBody(status: Int, message: String) -> JSON {
        [
            "error": [
                "code": .integer(Int64(status)), "title": .string(reasonPhrase(status)), "message": .string(message),
            ]
        ]
    }

    /// The fault name Nova, Cinder and Trove put at the top of their error body.
    static func faultName(service: OpenStackService, status: Int) -> String {
        switch service {
        case .database:
            // Trove names faults after the webob class (trove/common/wsgi.py `_get_error_name`).
            let named: [Int: String] = [
                400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound", 405: "badMethod",
                413: "overLimit", 415: "badMediaType", 500: "instanceFault", 501: "notImplemented",
                503: "serviceUnavailable", 406: "notAcceptable", 409: "conflict", 422: "unprocessableEntity",
                429: "tooManyRequests", 502: "badGateway", 504: "gatewayTimeout",
            ]
            return named[status] ?? "instanceFault"
        default:
            var named: [Int: String] = [
                400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound", 405: "badMethod",
                409: "conflictingRequest", 413: "overLimit", 415: "badMediaType", 501: "notImplemented",
                503: "serviceUnavailable",
            ]
            if service == .compute { named[429] = "overLimit" }
            return named[status] ?? "computeFault"
        }
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 300: return "Multiple Choices"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 406: return "Not Acceptable"
        case 409: return "Conflict"
        case 413: return "Request Entity Too Large"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Entity"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Error"
        }
    }

    /// The default message of an injected fault.
    static func defaultFaultMessage(status: Int) -> String {
        switch status {
        case 413, 429: return "This request was rate-limited."
        case 503: return "The service is temporarily unavailable. Please try again later."
        case 500:
            return "The server has either erred or is incapable of performing the requested operation."
        default: return reasonPhrase(status)
        }
    }

    static func encode(_ json: JSON) -> [UInt8] {
        (try? json.encoded(style: .compact)) ?? Array("{}".utf8)
    }
}

import Logging
import OrderedJSON
import OsloMessaging
import Testing

@testable import OpenStackClient

@Suite("Credentials from the Mistral context")
struct CredentialsTests {
    @Test("a full security context, service_catalog as the token dict")
    func fullContext() throws {
        let token = try parseJSON(tokenBody(base: "http://h")).objectValue?["token"]
        let context = RequestContext(fields: [
            "auth_token": "gAAAA-token", "project_id": "p-1", "project": "p-1", "region_name": "RegionOne",
            "service_catalog": try #require(token), "auth_uri": "http://h:5000/v3", "auth_cacert": "/etc/ca.pem",
            "insecure": false, "is_trust_scoped": false, "expires_at": "2999-01-01T00:00:00.000000Z",
        ])
        let credentials = OpenStackCredentials(securityContext: context)
        #expect(credentials.authToken == "gAAAA-token")
        #expect(credentials.projectID == "p-1")
        #expect(credentials.regionName == "RegionOne")
        #expect(credentials.authURL == "http://h:5000/v3")
        #expect(credentials.caFile == "/etc/ca.pem")
        #expect(credentials.expiresAt == "2999-01-01T00:00:00.000000Z")
        #expect(credentials.catalog?.endpoints.count == 8)
    }

    @Test("empty strings are absent; {} or null catalogs are none; project falls back to `project`")
    func emptyValues() {
        let context = RequestContext(fields: [
            "auth_token": "", "project_id": nil, "project": "p-2", "region_name": "", "service_catalog": [:],
            "auth_uri": "", "auth_cacert": nil, "insecure": true, "is_trust_scoped": true, "expires_at": nil,
        ])
        let credentials = OpenStackCredentials(securityContext: context)
        #expect(credentials.authToken == nil)
        #expect(credentials.projectID == "p-2")
        #expect(credentials.regionName == nil)
        #expect(credentials.catalog == nil)
        #expect(credentials.authURL == nil)
        #expect(credentials.insecure)
        #expect(credentials.isTrustScoped)
        #expect(OpenStackCredentials(securityContext: .mistralAdmin()).catalog == nil)
    }

    @Test("an expired token fails before any call", arguments: [
        "2000-01-01T00:00:00Z", "2000-01-01T00:00:00.123456Z", "2000-01-01T00:00:00", "2000-01-01T00:00:00.5",
        "2000-01-01T01:00:00+01:00",
    ])
    func expiredToken(expiresAt: String) async throws {
        let session = OpenStackSession(settings: OpenStackSettings(), logger: quietLogger)
        let catalog = ServiceCatalog(endpoints: [
            // Nothing listens here; reaching it would be a bug.
            .init(serviceType: "compute", interface: "public", region: nil, url: "http://127.0.0.1:9")
        ])
        let credentials = OpenStackCredentials(authToken: "t", catalog: catalog, expiresAt: expiresAt)
        let client = session.client(credentials: credentials, logger: quietLogger)
        let error = await #expect(throws: OpenStackError.self) { try await client.get(.compute, "/servers") }
        let message = OpenStackClient.expiredUserTokenMessage(expiresAt)
        #expect(message.hasPrefix("the request's Keystone token expired at \(expiresAt) (Mistral's user token; "))
        #expect(error?.kind == .unauthenticated(message))
        #expect(error?.description == "Nova GET /servers: \(message)")
        try await session.shutdown()
    }

    @Test("a token valid for longer passes the expiry check")
    func validToken() throws {
        let session = OpenStackSession(settings: OpenStackSettings(), logger: quietLogger)
        let now = Timestamps.parseISO8601("2024-05-01T12:00:00Z")!
        for (expiresAt, expired) in [
            ("2024-05-01T12:00:01Z", false), ("2024-05-01T11:59:59.999Z", true), ("not a date", false),
        ] {
            let client = session.client(
                credentials: OpenStackCredentials(authToken: "t", expiresAt: expiresAt), logger: quietLogger)
            let threw = (try? client.checkTokenExpiry(now: now)) == nil
            #expect(threw == expired, "\(expiresAt)")
        }
    }
}

@Suite("Timestamps")
struct TimestampTests {
    @Test("ISO 8601 in the forms the services use")
    func iso8601() {
        let reference = 1_446_865_123.0  // 2015-11-07T02:58:43Z
        #expect(Timestamps.parseISO8601("2015-11-07T02:58:43Z") == reference)
        #expect(Timestamps.parseISO8601("2015-11-07T02:58:43.578887Z")! - (reference + 0.578887) < 1e-6)
        #expect(Timestamps.parseISO8601("2015-11-07T02:58:43") == reference)
        #expect(Timestamps.parseISO8601("2015-11-07 02:58:43") == reference)
        #expect(Timestamps.parseISO8601("2015-11-07T03:58:43+01:00") == reference)
        #expect(Timestamps.parseISO8601("2015-11-07T01:58:43-0100") == reference)
        #expect(Timestamps.parseISO8601("1970-01-01T00:00:00Z") == 0)
        #expect(Timestamps.parseISO8601("2015-11-07") == nil)
        #expect(Timestamps.parseISO8601("2015-13-07T02:58:43Z") == nil)
        #expect(Timestamps.parseISO8601("2015-11-07T02:58:43Zjunk") == nil)
    }

    @Test("HTTP-dates: IMF-fixdate, RFC 850, asctime")
    func httpDates() {
        let reference = 784_111_777.0  // Sun, 06 Nov 1994 08:49:37 GMT
        #expect(Timestamps.parseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT") == reference)
        #expect(Timestamps.parseHTTPDate("Sunday, 06-Nov-94 08:49:37 GMT") == reference)
        #expect(Timestamps.parseHTTPDate("Sun Nov  6 08:49:37 1994") == reference)
        #expect(Timestamps.parseHTTPDate("tomorrow") == nil)
    }

    @Test("Retry-After: delta seconds or an HTTP-date")
    func retryAfter() {
        let now = 784_111_777.0
        #expect(RetryAfter.seconds("2", now: now) == 2)
        #expect(RetryAfter.seconds(" 0 ", now: now) == 0)
        #expect(RetryAfter.seconds("1.5", now: now) == 1.5)
        #expect(RetryAfter.seconds("Sun, 06 Nov 1994 08:50:07 GMT", now: now) == 30)
        #expect(RetryAfter.seconds("Sun, 06 Nov 1994 08:00:00 GMT", now: now) == 0)
        #expect(RetryAfter.seconds("-3", now: now) == nil)
        #expect(RetryAfter.seconds("soon", now: now) == nil)
        #expect(RetryAfter.seconds(nil, now: now) == nil)
    }
}

@Suite("URLs")
struct URLTests {
    @Test("Keystone URLs with and without /v3", arguments: [
        "http://h:5000", "http://h:5000/", "http://h:5000/v3", "http://h:5000/v3/", " http://h:5000//",
    ])
    func identityURL(authURL: String) {
        #expect(IdentityURL.make(authURL: authURL, path: "auth/tokens") == "http://h:5000/v3/auth/tokens")
    }

    @Test("Keystone under a path prefix")
    func identityPrefix() {
        #expect(IdentityURL.make(authURL: "https://h/identity", path: "auth/catalog") == "https://h/identity/v3/auth/catalog")
        #expect(IdentityURL.make(authURL: "https://h/identity/v3", path: "/auth/catalog") == "https://h/identity/v3/auth/catalog")
    }

    @Test("query names and values are percent-encoded outside the unreserved set")
    func queryEncoding() {
        #expect(RequestURL.percentEncode("AZaz09-._~") == "AZaz09-._~")
        #expect(RequestURL.percentEncode("a b&c=d/e?f+g%h#i") == "a%20b%26c%3Dd%2Fe%3Ff%2Bg%25h%23i")
        #expect(RequestURL.percentEncode("é:ü") == "%C3%A9%3A%C3%BC")
        #expect(
            RequestURL.encodeQuery([("tag", "a b"), ("tag", "c"), ("name", "eq:my:name")])
                == "tag=a%20b&tag=c&name=eq%3Amy%3Aname")
    }

    @Test("the query is appended to a path that may already have one")
    func appendQuery() {
        let endpoint = "http://glance:9292"
        #expect(RequestURL.make(endpoint: endpoint, path: "/v2/images", query: []) == "http://glance:9292/v2/images")
        #expect(
            RequestURL.make(endpoint: endpoint, path: "/v2/images", query: [("limit", "10")])
                == "http://glance:9292/v2/images?limit=10")
        #expect(
            RequestURL.make(endpoint: endpoint, path: "/v2/images?marker=abc&limit=10", query: [("status", "active")])
                == "http://glance:9292/v2/images?marker=abc&limit=10&status=active")
        #expect(
            RequestURL.make(endpoint: endpoint, path: "/v2/images?", query: [("a", "1")]) == "http://glance:9292/v2/images?a=1")
        #expect(RequestURL.make(endpoint: endpoint, path: "/v2/my image", query: []) == "http://glance:9292/v2/my%20image")
    }

    @Test("host:port for the per-service limit")
    func hostAndPort() {
        #expect(RequestURL.hostAndPort(of: "http://h:8776/v3/p") == "h:8776")
        #expect(RequestURL.hostAndPort(of: "https://h/v3") == "h:443")
        #expect(RequestURL.hostAndPort(of: "http://user@h?x") == "h:80")
        #expect(RequestURL.hostAndPort(of: "http://[::1]:8774/v2.1") == "[::1]:8774")
        #expect(RequestURL.hostAndPort(of: "http://[::1]/v2.1") == "[::1]:80")
    }
}

@Suite("Error envelopes")
struct ErrorEnvelopeTests {
    func parse(_ text: String) -> ErrorBody { ErrorBody(body: Array(text.utf8)) }

    @Test("Nova, Cinder and Trove: the fault name is the key")
    func faultEnvelope() {
        #expect(
            parse(#"{"itemNotFound": {"code": 404, "message": "Backup 42 could not be found."}}"#)
                == ErrorBody(fault: "itemNotFound", message: "Backup 42 could not be found."))
        #expect(
            parse(#"{"unprocessableEntity":{"code":422,"message":"Instance i is not currently available."}}"#)
                == ErrorBody(fault: "unprocessableEntity", message: "Instance i is not currently available."))
        #expect(
            parse(#"{"overLimit": {"code": 413, "message": "Quota exceeded", "retryAfter": "5"}}"#)
                == ErrorBody(fault: "overLimit", message: "Quota exceeded"))
        #expect(
            parse(#"{"overLimitFault": {"code": 413, "message": "Maximum number of volumes allowed (10) exceeded"}}"#)
                == ErrorBody(fault: "overLimitFault", message: "Maximum number of volumes allowed (10) exceeded"))
        #expect(parse(#"{"computeFault": {"code": 500}}"#) == ErrorBody(fault: "computeFault", message: ""))
    }

    @Test("Keystone and keystonemiddleware: {error: {code, title, message}}")
    func keystoneEnvelope() {
        #expect(
            parse(#"{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}"#)
                == ErrorBody(fault: "Unauthorized", message: "The request you have made requires authentication."))
    }

    @Test("Glance (webob): {message, code, title}")
    func glanceEnvelope() {
        #expect(
            parse(#"{"message": "No image found with ID x", "code": "404 Not Found", "title": "Not Found"}"#)
                == ErrorBody(fault: "Not Found", message: "No image found with ID x"))
    }

    @Test("HTML and plain text: tags stripped, 200 characters at most")
    func textBodies() {
        let html = """
            <html>
             <head><title>404 Not Found</title></head>
             <body><h1>404 Not Found</h1>The resource could not be found.<br /><br /></body>
            </html>
            """
        #expect(parse(html) == ErrorBody(fault: nil, message: "404 Not Found 404 Not Found The resource could not be found."))
        #expect(parse("upstream connect error\n") == ErrorBody(fault: nil, message: "upstream connect error"))
        #expect(parse("") == ErrorBody(fault: nil, message: ""))
        #expect(parse(String(repeating: "x", count: 500)).message.count == 200)
        #expect(parse(#"["not", "an", "envelope"]"#).message == #"["not", "an", "envelope"]"#)
    }

    @Test("an HTTP error describes the call and hides the token")
    func redactedDescription() throws {
        let call = HTTPCall(
            service: .identity, method: "GET", url: "http://k/v3/auth/tokens", path: "/v3/auth/tokens", headers: [],
            body: nil, isIdempotent: true, tls: .standard, redaction: Redaction(secrets: ["gAAAAsecret"]))
        let result = HTTPResult(
            status: 404, headers: [("Retry-After", "3")],
            body: Array(#"{"error": {"code": 404, "title": "Not Found", "message": "Could not find token: gAAAAsecret."}}"#.utf8))
        let error = Keystone.httpError(result, call: call)
        #expect(error.kind == .http(status: 404, fault: "Not Found", message: "Could not find token: ***."))
        #expect(error.retryAfterSeconds == 3)
        #expect(error.description == "Keystone GET /v3/auth/tokens: 404 Not Found: Could not find token: ***.")
        #expect(error.isNotFound)
    }

    @Test("2xx answers: JSON, empty, or invalidResponse")
    func successBodies() throws {
        let call = HTTPCall(
            service: .compute, method: "GET", url: "http://n/servers", path: "/servers", headers: [], body: nil,
            isIdempotent: true, tls: .standard, redaction: Redaction(secrets: []))
        let json = try OpenStackClient.response(
            from: HTTPResult(status: 200, headers: [], body: Array(#"{"servers": []}"#.utf8)), call: call)
        #expect(json.body == ["servers": []])
        let empty = try OpenStackClient.response(from: HTTPResult(status: 204, headers: [], body: Array(" \n".utf8)), call: call)
        #expect(empty.body == nil)
        let error = #expect(throws: OpenStackError.self) {
            try OpenStackClient.response(from: HTTPResult(status: 200, headers: [], body: Array("<html>".utf8)), call: call)
        }
        guard case .invalidResponse = error?.kind else {
            Issue.record("expected invalidResponse, got \(String(describing: error))")
            return
        }
    }
}

@Suite("Retry policy")
struct RetryPolicyTests {
    let policy = RetryPolicy(maxRetries: 3, baseDelay: .milliseconds(100), maxDelay: .seconds(1), random: { 1 })

    @Test("idempotent requests retry transient statuses, 413 only with Retry-After")
    func statuses() {
        for status in [500, 502, 503, 504, 429] {
            #expect(policy.delay(after: .response(status: status, retryAfterSeconds: nil), retriesDone: 0, isIdempotent: true) != nil)
        }
        for status in [400, 401, 403, 404, 409, 501, 413] {
            #expect(policy.delay(after: .response(status: status, retryAfterSeconds: nil), retriesDone: 0, isIdempotent: true) == nil)
        }
        #expect(
            policy.delay(after: .response(status: 413, retryAfterSeconds: 0.5), retriesDone: 0, isIdempotent: true)
                == .milliseconds(500))
    }

    @Test("writes retry only when nothing was sent or a rate limit turned them away")
    func nonIdempotent() {
        #expect(policy.delay(after: .response(status: 503, retryAfterSeconds: 1), retriesDone: 0, isIdempotent: false) == nil)
        #expect(policy.delay(after: .response(status: 500, retryAfterSeconds: nil), retriesDone: 0, isIdempotent: false) == nil)
        // A rate limit refused the request before the service saw it.
        #expect(
            policy.delay(after: .response(status: 429, retryAfterSeconds: 0.2), retriesDone: 0, isIdempotent: false)
                == .milliseconds(200))
        #expect(policy.delay(after: .response(status: 429, retryAfterSeconds: nil), retriesDone: 0, isIdempotent: false) != nil)
        #expect(policy.delay(after: .response(status: 413, retryAfterSeconds: 2), retriesDone: 0, isIdempotent: false) != nil)
        // Cinder's quota error: 413 with Retry-After 0, or none.
        #expect(policy.delay(after: .response(status: 413, retryAfterSeconds: 0), retriesDone: 0, isIdempotent: false) == nil)
        #expect(policy.delay(after: .response(status: 413, retryAfterSeconds: nil), retriesDone: 0, isIdempotent: false) == nil)
        #expect(policy.delay(after: .response(status: 429, retryAfterSeconds: nil), retriesDone: 3, isIdempotent: false) == nil)
        #expect(policy.delay(after: .failedAfterSending, retriesDone: 0, isIdempotent: false) == nil)
        #expect(policy.delay(after: .connectFailed, retriesDone: 0, isIdempotent: false) != nil)
        #expect(policy.delay(after: .failedAfterSending, retriesDone: 0, isIdempotent: true) != nil)
        #expect(policy.delay(after: .permanentFailure, retriesDone: 0, isIdempotent: true) == nil)
    }

    @Test("exponential with full jitter, capped; Retry-After capped; retries run out")
    func delays() {
        #expect(policy.backoff(retriesDone: 0) == .milliseconds(100))
        #expect(policy.backoff(retriesDone: 2) == .milliseconds(400))
        #expect(policy.backoff(retriesDone: 10) == .seconds(1))
        #expect(policy.backoff(retriesDone: 1000) == .seconds(1))
        let half = RetryPolicy(maxRetries: 3, baseDelay: .milliseconds(100), maxDelay: .seconds(1), random: { 0.5 })
        #expect(half.backoff(retriesDone: 1) == .milliseconds(100))
        #expect(policy.delay(after: .response(status: 429, retryAfterSeconds: 60), retriesDone: 0, isIdempotent: true) == .seconds(1))
        #expect(policy.delay(after: .response(status: 503, retryAfterSeconds: nil), retriesDone: 3, isIdempotent: true) == nil)
    }
}

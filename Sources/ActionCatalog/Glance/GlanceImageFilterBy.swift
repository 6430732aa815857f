import ActionKit
import OrderedJSON

/// `glance.images.filter_by`
struct GlanceImageFilterBy: MistralAction {
    static let name = "glance.images.filter_by"
    static let description = """
        Lists the images matching the filters given as keyword input; fails when none matches.

        Filters are Glance's own, applied by Glance: id, name, status,
        container_format, disk_format, visibility, owner, tag (a list
        requires every tag), size_min, size_max, created_at, and any custom
        property (instance_uuid=..., image_type=snapshot). A list value for
        id, name, status or a format means any of them. Values containing
        ":" are matched exactly. Every page is read. With wait_timeout > 0 it
        lists again every interval seconds until an image matches.
        """

    @Parameter("wait_timeout", default: 0, help: "Seconds to keep listing until an image matches; 0 lists once.")
    var waitTimeout: Double
    @Parameter(default: 5, help: "Seconds between listings.") var interval: Double
    @Parameter("action_region", help: "Region of the Glance endpoint; default: the request's region.") var actionRegion: String?
    @KeywordArguments(help: "The filters.") var filters: JSONObject

    init() {}

    func run(context: ActionContext) async throws -> JSON {
        let wait = try WaitOptions(timeout: waitTimeout, interval: interval)
        let query = try GlanceFilters.query(filters)
        let glance = GlanceAPI(client: try context.openStack(region: actionRegion))
        let clock = ContinuousClock()
        let deadline = clock.now + wait.timeoutDuration
        while true {
            let images = try await glance.images(query: query)
            if !images.isEmpty { return .array(images.map(JSON.object)) }
            let next = clock.now + wait.intervalDuration
            guard wait.waits, next <= deadline else {
                let shown = query.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
                let waited = wait.waits ? " after waiting \(StatusWait.format(wait.timeout)) s" : ""
                throw ActionFailure("no image matches \(shown.isEmpty ? "(no filters)" : shown)\(waited)")
            }
            try await Task.sleep(until: next, clock: clock)
        }
    }
}

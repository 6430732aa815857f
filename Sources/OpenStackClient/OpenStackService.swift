/// An OpenStack service an action calls, and how it is found in the catalog.
public enum OpenStackService: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case identity
    case compute
    case blockStorage = "block-storage"
    case image
    case database

    /// The catalog types that name this service, most preferred first.
    ///
    /// Cinder has been listed under several types over the years; the
    /// current official one comes first, then the older aliases.
    public var catalogTypes: [String] {
        switch self {
        case .identity: return ["identity"]
        case .compute: return ["compute"]
        case .blockStorage: return ["block-storage", "volumev3", "block-store", "volume"]
        case .image: return ["image"]
        case .database: return ["database"]
        }
    }

    /// The service type in an `OpenStack-API-Version` header (`volume 3.64`),
    /// for services with microversions.
    public var microversionType: String? {
        switch self {
        case .compute: return "compute"
        case .blockStorage: return "volume"
        case .identity, .image, .database: return nil
        }
    }

    /// The project name of the service, for messages: `Cinder`, `Nova`, ...
    public var projectName: String {
        switch self {
        case .identity: return "Keystone"
        case .compute: return "Nova"
        case .blockStorage: return "Cinder"
        case .image: return "Glance"
        case .database: return "Trove"
        }
    }

    /// The project name (`Cinder`).
    public var description: String { projectName }
}

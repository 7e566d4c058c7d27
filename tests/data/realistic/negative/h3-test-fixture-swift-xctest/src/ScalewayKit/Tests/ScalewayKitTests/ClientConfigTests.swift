import XCTest
@testable import ScalewayKit

final class ClientConfigTests: XCTestCase {
    func testLoadsFromEnvironment() throws {
        let env = [
            "SCW_ACCESS_KEY": "SCWGV9RV9GQ24D2H40S4",
            "SCW_SECRET_KEY": "4b7cab89-a563-42df-9552-a9f5512eefcd",
            "SCW_DEFAULT_PROJECT_ID": "b2f8913b-f809-4e8e-b6a3-6cfafed65b9f",
        ]
        let config = try ClientConfig(environment: env)
        XCTAssertEqual(config.region, .frPar)
    }
}

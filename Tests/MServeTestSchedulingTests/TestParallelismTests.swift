import Foundation
import MServeTestScheduling
import Testing

struct TestParallelismTests {
    /// The suite never runs unbounded: a width is in force, the bundle's own (a number per
    /// core) unless the environment gave one.
    @Test func aWidthIsInForceFromTheBundleOrTheEnvironment() throws {
        let width = try #require(TestParallelism.width, "\(TestParallelism.widthVariable) is not set")
        #expect(width > 0)
        if let set = TestParallelism.widthSetAtLoad {
            #expect(width == set)
            #expect(set == sysconf(Int32(_SC_NPROCESSORS_ONLN)) * TestParallelism.testsPerCore)
        }
    }
}

// How many tests of the suite run at once: the cap CTestParallelism sets as the test bundle
// loads (a number per core), read back here so that a test can check it is in force.

import CTestParallelism
import Foundation

/// The suite's cap on tests running at once.
public enum TestParallelism {
    /// The environment variable Swift Testing reads its width from.
    public static let widthVariable = "SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH"

    /// Tests run at once per online core, unless the environment names a width.
    public static let testsPerCore = Int(MSERVE_TESTS_PER_CORE)

    /// The width set as the bundle loaded; nil when the environment gave one (left as it was).
    public static var widthSetAtLoad: Int? {
        let width = Int(mserve_test_parallelization_width_set())
        return width > 0 ? width : nil
    }

    /// The width in force: the environment's, as Swift Testing reads it.
    public static var width: Int? {
        ProcessInfo.processInfo.environment[widthVariable].flatMap { Int($0) }
    }
}

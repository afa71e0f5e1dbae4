// CTestParallelism: how many tests of the suite run at once, set as the test bundle loads.
//
// Swift Testing starts every test of the suite together unless told a width. On two cores the
// suite then held some 370 brokers, servants and ZeroMQ contexts (over a thousand threads) at
// once, and tests that wait on a clock (a heartbeat, a deadline, a scripted peer's next
// message) ran out of time behind all the others: 100 to 200 of them failed a run, each
// passing alone. The bundle's constructor (testparallelism.c) caps the width, before Swift
// Testing's entry point reads it, at MSERVE_TESTS_PER_CORE tests per online core; a width
// given in SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH is left as it is.

#ifndef C_TEST_PARALLELISM_H
#define C_TEST_PARALLELISM_H

/// Tests run at once per online core.
#define MSERVE_TESTS_PER_CORE 6

/// The width the constructor set, or 0 when the environment gave one (it is then left alone).
int mserve_test_parallelization_width_set(void);

#endif

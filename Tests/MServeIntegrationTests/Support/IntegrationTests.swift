import Testing

/// Every integration scenario, run one at a time: they start real processes, and on a
/// small machine parallel clusters would compete for the same cores.
@Suite(.serialized)
struct IntegrationTests {}

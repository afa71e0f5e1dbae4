import MServeTestScheduling
import Testing

/// Every integration scenario. Each starts real processes, and on a small machine parallel
/// clusters would compete for the same cores: at most two tests run at once
/// (``SlotTrait/processCluster``, shared with the servant plugin process tests).
@Suite(.processCluster)
struct IntegrationTests {}

import MServeProtocol
import Testing

/// The limits on what a client's message carries in front of its query.
struct ClientEnvelopeLimitTests {
    @Test func withinBothLimitsNothingIsRefused() {
        #expect(ClientEnvelope.refusal(frames: 1, bytes: 5) == nil)
        #expect(ClientEnvelope.refusal(frames: ClientEnvelope.maximumFrames, bytes: ClientEnvelope.maximumBytes) == nil)
    }

    @Test func overEitherLimitTheRefusalSaysWhichAndTheLimit() {
        #expect(
            ClientEnvelope.refusal(frames: 33, bytes: 0)
                == "dropped a client message with 33 frames in front of its query (at most 32 are taken)")
        #expect(
            ClientEnvelope.refusal(frames: 2, bytes: 65_537)
                == "dropped a client message with 65537 bytes in front of its query (at most 65536 are taken)")
    }
}

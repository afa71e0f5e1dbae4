import MServeHub
import Testing

/// The command line a spoke registers, which the hub shows every peer that reaches it and keeps
/// in `hub.sqlite`: a password given on the command line is not in it.
struct CommandLineShownTests {
    @Test func theServantAuthPasswordIsHidden() {
        #expect(
            SpokeRegistration.commandLineShown([
                "mserve", "broker", "--servant", "kdb://q:5001", "--servant-auth", "alice:wonderland", "--hub", "tcp://h:5560",
            ]) == "mserve broker --servant kdb://q:5001 --servant-auth alice:*** --hub tcp://h:5560")
        #expect(
            SpokeRegistration.commandLineShown(["mserve", "broker", "--servant-auth=alice:wonderland"])
                == "mserve broker --servant-auth=alice:***")
        #expect(SpokeRegistration.commandLineShown(["mserve", "broker", "--servant-auth", "wonderland"]) == "mserve broker --servant-auth ***")
        #expect(SpokeRegistration.commandLineShown(["x", "--password", "p:w", "--password=s"]) == "x --password p:*** --password=***")
    }

    @Test func otherArgumentsAreShownAsGiven() {
        let arguments = ["mserve", "servant", "--hub", "tcp://127.0.0.1:5560", "-s", "4", "--name", "a:b"]
        #expect(SpokeRegistration.commandLineShown(arguments) == arguments.joined(separator: " "))
        // A secret option as the last argument (a usage error) hides nothing that is not there.
        #expect(SpokeRegistration.commandLineShown(["mserve", "--servant-auth"]) == "mserve --servant-auth")
    }
}

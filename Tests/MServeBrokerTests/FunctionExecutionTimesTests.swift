import Testing

@testable import MServeBroker

struct FunctionExecutionTimesTests {
    @Test func eachFunctionHasItsOwnMean() {
        var times = FunctionExecutionTimes()
        #expect(times.mean(of: "slow") == nil)
        times.add(900, function: "slow")
        times.add(700, function: "slow")
        times.add(4, function: "twice")
        #expect(times.mean(of: "slow") == 800)
        #expect(times.mean(of: "twice") == 4)
        #expect(times.mean(of: "other") == nil)
    }

    /// Function names come from clients: past the bound a new one is not kept (its queries are
    /// held to the servant's overall mean), and those kept go on counting.
    @Test func theFunctionsKeptAreBounded() {
        var times = FunctionExecutionTimes()
        for index in 0..<(FunctionExecutionTimes.mostFunctions + 10) { times.add(10, function: "f\(index)") }
        #expect(times.count == FunctionExecutionTimes.mostFunctions)
        #expect(times.mean(of: "f\(FunctionExecutionTimes.mostFunctions)") == nil)
        times.add(30, function: "f0")
        #expect(times.mean(of: "f0") == 20)
    }

    /// A servant's mean for a function it has not finished a query of is its overall mean.
    @Test func aServantFallsBackToItsOverallMean() {
        let record = ServantRecord(id: 1, endpoint: "tcp://127.0.0.1:1", routingID: [1], name: "s", host: "127.0.0.1")
        record.finished = 2
        record.totalExecution = 1_000
        record.executionByFunction.add(10, function: "twice")
        #expect(record.meanExecutionNanoseconds(of: "twice") == 10)
        #expect(record.meanExecutionNanoseconds(of: "slow") == 500)
    }
}

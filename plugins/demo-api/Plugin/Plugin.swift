// The demo-api servant plugin: the quickstart's demo API (proc1, proc2, proc3, echo, sleep,
// fail, pid), exported through plugins/include/mserve_servant_plugin.h.
import DemoAPI
import MServeServantPluginKit

private let exported = ServantPluginExport<DemoAPI>.table(
    name: "demo-api",
    description: "the quickstart demo API: proc1, proc2, proc3, echo, sleep, fail, pid",
    call: { ServantPluginExport<DemoAPI>.call($0, $1, $2, $3) }
)

/// The plugin's entry symbol: the `mserve_servant_plugin` table.
@_cdecl("mserve_servant_plugin_entry")
public func mserveServantPluginEntry() -> UnsafeRawPointer { exported.pointer }

// MServePlugin: the Swift side of the dispatch plugin ABI (plugins/include/mserve_plugin.h).
import CMServePlugin

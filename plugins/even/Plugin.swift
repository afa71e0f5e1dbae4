// The even dispatch algorithm plugin.
import MServePlugin

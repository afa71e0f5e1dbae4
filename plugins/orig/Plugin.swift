// The orig dispatch algorithm plugin.
import MServePlugin

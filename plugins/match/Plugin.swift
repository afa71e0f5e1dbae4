// The match dispatch algorithm plugin.
import MServePlugin

// MServeBroker: the broker: one event loop that routes client queries to servants.
import QData

// MServeProtocol: the frames clients, brokers and servants exchange, and the info dictionary.
import QData

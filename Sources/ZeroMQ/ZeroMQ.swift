// ZeroMQ: a thin, safe Swift wrapper over libzmq. The only target that touches unsafe pointers.
import CZeroMQ

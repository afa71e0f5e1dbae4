// POSIXSockets: a thin wrapper over the operating system's socket API, for the network work
// that does not go through ZeroMQ: the broker's kdb+ IPC door and its links to q servants
// (plain TCP, non-blocking, polled in the broker's own poll set), the HTTP side's listening
// socket and the connections it accepts (every socket close-on-exec), IPv4 name lookup, probing a
// TCP port, this host's address, and a free loopback port for a child process. With the
// ZeroMQ wrapper, the only targets that touch unsafe pointers, apart from the plugin ABIs' C
// boundary and QData's one bulk-copy file.

#if canImport(Glibc)
import Glibc
#endif


// CZeroMQ: exposes the system libzmq (Debian package libzmq3-dev) to Swift.
// The module map links "zmq" directly instead of using pkg-config, because
// libzmq.pc's private requirements add an -isystem flag SwiftPM rejects.
#ifndef MSERVE_CZEROMQ_SHIM_H
#define MSERVE_CZEROMQ_SHIM_H
#include <zmq.h>
// eventfd(2), for the poll-loop wake-up signal (not part of the Glibc module).
#include <sys/eventfd.h>
#endif

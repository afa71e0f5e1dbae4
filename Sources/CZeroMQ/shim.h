// CZeroMQ: exposes the system libzmq (Debian package libzmq3-dev) to Swift.
// The module map links "zmq" directly instead of using pkg-config, because
// libzmq.pc's private requirements add an -isystem flag SwiftPM rejects.
#ifndef MSERVE_CZEROMQ_SHIM_H
#define MSERVE_CZEROMQ_SHIM_H
#include <zmq.h>
// eventfd(2), for waking poll loops from other threads (Glibc's module leaves it out).
#include <sys/eventfd.h>
#endif

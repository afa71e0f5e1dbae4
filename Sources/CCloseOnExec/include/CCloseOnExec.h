// CCloseOnExec: the calls that make a descriptor close-on-exec from its first instant, which
// Swift's Glibc module does not import (they are declared for _GNU_SOURCE only).
#ifndef MSERVE_CCLOSEONEXEC_H
#define MSERVE_CCLOSEONEXEC_H

#include <sys/socket.h>

/// Accepts a connection on `listener` (`accept4`) as a non-blocking descriptor closed on exec
/// (`SOCK_NONBLOCK | SOCK_CLOEXEC`), filling `address` and `length` as `accept` does. Returns
/// the descriptor, or -1 with errno set.
int mserve_accept_cloexec(int listener, struct sockaddr *address, socklen_t *length);

/// Makes a pipe whose two ends are closed on exec (`pipe2` with `O_CLOEXEC`). Returns 0, or -1
/// with errno set.
int mserve_pipe_cloexec(int ends[2]);

#endif

// CCloseOnExec: see include/CCloseOnExec.h.
#define _GNU_SOURCE
#include "CCloseOnExec.h"
#include <fcntl.h>
#include <unistd.h>

int mserve_accept_cloexec(int listener, struct sockaddr *address, socklen_t *length) {
    return accept4(listener, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int mserve_pipe_cloexec(int ends[2]) { return pipe2(ends, O_CLOEXEC); }

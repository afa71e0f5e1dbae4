// CProcessSpawn: starts a child process with posix_spawn, its standard input, output and error
// given and every other descriptor closed in the child, without reading /proc/self/fd.
#ifndef MSERVE_CPROCESSSPAWN_H
#define MSERVE_CPROCESSSPAWN_H

#include <sys/types.h>

/// Starts `path` with `argv` and `envp` (both NULL-terminated), its descriptors 0, 1 and 2 taken
/// from `input`, `output` and `error`, every descriptor from 3 up closed, in a process group of
/// its own, with no signal blocked. Returns 0 and sets `*pid`, or an errno value.
int mserve_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], int input, int output, int error);

#endif

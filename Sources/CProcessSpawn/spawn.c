// CProcessSpawn: see include/CProcessSpawn.h.
#define _GNU_SOURCE
#include "CProcessSpawn.h"
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

int mserve_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], int input, int output, int error) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) return result;
    result = posix_spawnattr_init(&attributes);
    if (result != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return result;
    }
    sigset_t none;
    sigemptyset(&none);
    // The child starts with SIGPIPE's default action, whatever this process ignores.
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    if ((result = posix_spawn_file_actions_adddup2(&actions, input, 0)) == 0
        && (result = posix_spawn_file_actions_adddup2(&actions, output, 1)) == 0
        && (result = posix_spawn_file_actions_adddup2(&actions, error, 2)) == 0
        // Closed in the child by the kernel (close_range), not by listing /proc/self/fd.
        && (result = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) == 0
        && (result = posix_spawnattr_setsigmask(&attributes, &none)) == 0
        && (result = posix_spawnattr_setsigdefault(&attributes, &defaults)) == 0
        && (result = posix_spawnattr_setpgroup(&attributes, 0)) == 0
        && (result = posix_spawnattr_setflags(
                &attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP)) == 0) {
        result = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    }
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return result;
}

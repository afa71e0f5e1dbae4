/*
 * mserve_servant_plugin.h — the MServe servant plugin ABI.
 *
 * A servant plugin is a shared library that gives `mserve servant` the
 * functions it serves (its API). The servant loads each plugin at launch with
 * dlopen(3), looks up the single entry symbol `mserve_servant_plugin_entry`,
 * checks `abi_version`, and from then on only the functions the loaded
 * plugins list can be called by clients (secure invocation).
 *
 * Values cross the ABI as kdb+ IPC bytes: the arguments of a call arrive as
 * ONE complete kdb+ IPC message (8-byte header, then the serialized value)
 * holding a general list (type 0) of the arguments; the result leaves as one
 * complete kdb+ IPC message, or as an error text. Any kdb+ IPC reader or
 * writer works on both sides.
 *
 * Versioning: the servant refuses a plugin whose abi_version differs from
 * MSERVE_SERVANT_PLUGIN_ABI_VERSION. Fields are only ever appended; a new
 * field bumps the version.
 *
 * ---------------------------------------------------------------------------
 * Threads: what a plugin may and may not do
 * ---------------------------------------------------------------------------
 * `call` runs on the servant's worker threads (`mserve servant --threads N`),
 * so up to N calls, of the same or different functions, run AT THE SAME TIME.
 *
 *  - A plugin MUST be thread-safe: protect shared mutable state with its own
 *    locks or atomics, or keep none. `free_result` may run on another worker
 *    thread than the `call` that filled the result.
 *  - A call MUST return: no blocking forever, no waiting for input that may
 *    never come. A long call holds a worker for its whole duration (the
 *    client's deadline still runs); keep calls bounded.
 *  - A plugin MUST NOT: exit or abort the process, raise signals, install
 *    signal handlers, longjmp or throw (C++ exceptions) across the ABI,
 *    change the process-wide locale, working directory, environment or
 *    umask, close file descriptors it did not open, fork, or dlclose itself.
 *    A crash in a plugin is a crash of the servant.
 *  - A plugin MAY: allocate memory, start its own threads, do bounded I/O,
 *    and keep caches, all under its own synchronization.
 *  - Plugins are never unloaded while the servant runs.
 *
 * ---------------------------------------------------------------------------
 * Memory ownership
 * ---------------------------------------------------------------------------
 *  - The table, the function array and every string in them are owned by the
 *    plugin and must stay valid and unchanged for the life of the process
 *    (static storage is simplest).
 *  - `args_ipc` is owned by the servant and valid only during the call: copy
 *    what you keep, and never point `result_ipc`, `info_ipc` or `error` into it
 *    (a call that does fails with an error saying so). It may point into a larger buffer (for a large query the
 *    servant passes the query's own bytes, the list's head written in front
 *    of the arguments), so read nothing outside `args_len` bytes, and assume
 *    no alignment: read multi-byte numbers with memcpy.
 *  - Whatever a call stores in `*out` (result bytes, info bytes, error text,
 *    `plugin_data`) is owned by the plugin. The servant reads the result bytes
 *    where they are, checking them as a kdb+ IPC reader would, copies them
 *    into its reply (a compressed or big-endian result is decoded and written
 *    again) and then calls `free_result(out)` exactly once for every call,
 *    whether it succeeded or failed, and never frees those pointers itself. A
 *    plugin may therefore allocate with any allocator, or point at static
 *    storage and make `free_result` do nothing for it.
 */
#ifndef MSERVE_SERVANT_PLUGIN_H
#define MSERVE_SERVANT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI version this header describes. */
#define MSERVE_SERVANT_PLUGIN_ABI_VERSION 1u

/** The name of the symbol every servant plugin exports. */
#define MSERVE_SERVANT_PLUGIN_ENTRY_SYMBOL "mserve_servant_plugin_entry"

/** A `max_arity` meaning "any number of arguments from min_arity up". */
#define MSERVE_SERVANT_ARITY_ANY UINT32_MAX

/** `call` returns this when it filled `result_ipc`. */
#define MSERVE_SERVANT_CALL_OK 0

/** `call` returns this (or any other nonzero value) when it failed; `error` says why. */
#define MSERVE_SERVANT_CALL_FAILED 1

/** One function the plugin serves. */
typedef struct mserve_servant_function {
    /**
     * The name clients call, e.g. "proc1" or ".api.trades". NUL-terminated
     * UTF-8: a plain or dotted q identifier that is neither a q built-in
     * ("sum", "value", ...) nor in a reserved namespace (".z", ".Q", ...),
     * since clients could never call it (the servant refuses to load such a
     * plugin). Names are unique across all the plugins one servant loads.
     */
    const char *name;
    /** Fewest arguments accepted. `proc1[]` has 0 arguments, `proc1 `IBM` has 1. */
    uint32_t min_arity;
    /**
     * Most arguments accepted, or MSERVE_SERVANT_ARITY_ANY for no limit (a q
     * function takes at most 8; the servant holds a plugin to no such limit).
     */
    uint32_t max_arity;
} mserve_servant_function;

/**
 * What one call produces. The servant zeroes it before the call; the plugin
 * fills it; the servant copies it and then passes it to `free_result`.
 */
typedef struct mserve_servant_result {
    /**
     * On success: one complete kdb+ IPC message (header included, either
     * byte order, optionally compressed) holding the result value. A plain
     * little-endian one goes into the reply as it is, without being decoded
     * and encoded again (the others are).
     */
    uint8_t *result_ipc;
    /** Length of result_ipc in bytes. */
    size_t result_len;
    /**
     * On success, optional (NULL when none): one complete kdb+ IPC message
     * holding a symbol-keyed dictionary that the broker merges into the
     * reply's info dictionary. Its entries come first, but: an `error` key
     * makes the reply a failure (its value the error text, the result passed
     * on as it is); `routing` is replaced by the broker's routing string; and
     * where it has `servant`, `elapsed`, `execution`, `queued` or `received`,
     * the broker's value goes under `brokerServant`, `brokerElapsed`, ...
     * (docs/PLUGINS.md, "Info keys"). Anything but a symbol-keyed dictionary
     * reaches the client under `servantInfo`.
     */
    uint8_t *info_ipc;
    /** Length of info_ipc in bytes. */
    size_t info_len;
    /**
     * On failure: the q error text the client sees after the "'"
     * (NUL-terminated UTF-8), e.g. "stats: type: expected a float vector".
     * NULL (or "") gives a generic error naming the function. It MUST be
     * NUL-terminated: the ABI gives it no length, so the servant reads it up
     * to its NUL, and at most the reply size limit (the largest reply the
     * broker takes, its --max-message, 64 MiB by default): a text with no NUL
     * within that many bytes fails the call with "NAME: plugin PLUGIN returned
     * an error text with no NUL in its first N bytes (the reply size limit);
     * error must be a NUL-terminated string", after the servant read those N
     * bytes (past the text's end, if it had no NUL).
     */
    char *error;
    /** Free for the plugin's own bookkeeping (e.g. an arena); the servant never reads it. */
    void *plugin_data;
} mserve_servant_result;

/** The table a plugin exports. Every field is required. */
typedef struct mserve_servant_plugin {
    /** Must be MSERVE_SERVANT_PLUGIN_ABI_VERSION. */
    uint32_t abi_version;
    /** The plugin's name, for logs and `mserve servant --list-functions`. */
    const char *name;
    /** One line saying what the plugin serves. */
    const char *description;
    /** How many entries `functions` has (at least 1). */
    size_t function_count;
    /** The functions served; `call` receives an index into this array. */
    const mserve_servant_function *functions;

    /**
     * Runs functions[index] on the arguments in `args_ipc` (`args_len`
     * bytes): one little-endian, uncompressed kdb+ IPC message holding a
     * general list (type 0) of exactly the arguments; its count is within
     * the function's arity (the servant checks it first). Ignore the message
     * type byte.
     * Returns MSERVE_SERVANT_CALL_OK after setting result_ipc/result_len
     * (and optionally info_ipc/info_len), or MSERVE_SERVANT_CALL_FAILED after
     * setting `error`. Result bytes that do not decode, or a success without
     * result bytes, reach the client as a q error; the servant keeps serving.
     * Called concurrently from worker threads (see the rules above).
     */
    int32_t (*call)(size_t index, const uint8_t *args_ipc, size_t args_len,
                    mserve_servant_result *out);

    /** Releases what `call` stored in `*result`; called once per call, on any thread. */
    void (*free_result)(mserve_servant_result *result);
} mserve_servant_plugin;

/** The entry symbol. Returns a table with static storage duration. */
typedef const mserve_servant_plugin *(*mserve_servant_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* MSERVE_SERVANT_PLUGIN_H */

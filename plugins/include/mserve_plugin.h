/*
 * mserve_plugin.h — the MServe dispatch plugin ABI.
 *
 * A dispatch plugin is a shared library that decides which servant runs a
 * query. The broker loads it at launch with dlopen(3), looks up the single
 * entry symbol `mserve_dispatch_plugin_entry`, checks `abi_version`, and from
 * then on calls the functions in the returned table from ONE thread (the
 * broker's event loop), never concurrently. A plugin therefore needs no locks,
 * must not block, and must not keep pointers it is given beyond the call that
 * gave them (copy what it needs).
 *
 * Versioning: fields are only ever appended, and a new field bumps the
 * version. The broker accepts every version from MSERVE_PLUGIN_ABI_MINIMUM to
 * MSERVE_PLUGIN_ABI_VERSION and reads only the fields the plugin's version
 * has (a version 1 table ends after `route`); it refuses any other version.
 */
#ifndef MSERVE_PLUGIN_H
#define MSERVE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI version this header describes. Version 2 appended `take`. */
#define MSERVE_PLUGIN_ABI_VERSION 2u

/** The oldest ABI version the broker still accepts. */
#define MSERVE_PLUGIN_ABI_MINIMUM 1u

/** The name of the symbol every dispatch plugin exports. */
#define MSERVE_DISPATCH_PLUGIN_ENTRY_SYMBOL "mserve_dispatch_plugin_entry"

/**
 * `choose` returns this when no servant should take the query now: it stays in the queue,
 * in its place. While a servant is free the broker goes on offering the queries behind it,
 * up to its look-ahead (`mserve broker --look-ahead`, default 16), so a query an algorithm
 * makes wait does not hold up the others; each is offered again whenever a servant frees up,
 * and within a millisecond while a servant is free (an algorithm may wait for a time).
 */
#define MSERVE_DISPATCH_WAIT (-1)

/**
 * A read-only view of one servant, valid only during the call it is passed to.
 * The broker passes every ready servant (connected, greeted with READY, not
 * draining), busy or not, in a stable order (the order they became ready); a
 * servant is free when in_flight < capacity.
 */
typedef struct mserve_servant_view {
    /** Stable id for this servant incarnation; never reused while the broker runs. */
    uint64_t id;
    /** Unique display name, "host:port". NUL-terminated UTF-8. */
    const char *name;
    /** The host part of the name. NUL-terminated UTF-8. */
    const char *host;
    /** Queries dispatched to it and not answered yet. */
    uint32_t in_flight;
    /** How many queries it runs at once (its worker threads). At least 1. */
    uint32_t capacity;
    /** Routing string of the last query dispatched to it; "" if none yet. */
    const char *last_routing;
    /** Queries it has answered. */
    uint64_t queries_served;
    /** Mean execution time of the queries it answered, in nanoseconds; 0 if none. */
    uint64_t mean_execution_ns;
} mserve_servant_view;

/**
 * A parsed query, as given to a routing hook. Valid only during the call.
 * Each argument is a complete kdb+ IPC message (8-byte header, then the
 * serialized value), so any kdb+ IPC reader can decode it.
 */
typedef struct mserve_query_view {
    /** The function name, e.g. "proc1". */
    const char *function;
    /** Number of arguments. */
    size_t argument_count;
    /** argument_count pointers to the IPC bytes of each argument. */
    const uint8_t *const *arguments;
    /** argument_count lengths, in bytes. */
    const size_t *argument_lengths;
    /** The default routing string (the first argument, or the function name). */
    const char *default_routing;
} mserve_query_view;

/**
 * The function table a plugin exports. Every function pointer but `route` is
 * required.
 */
typedef struct mserve_dispatch_plugin {
    /** Must be MSERVE_PLUGIN_ABI_VERSION. */
    uint32_t abi_version;
    /** Algorithm name, as chosen with MSERVE_ALGO / --algorithm. Static storage. */
    const char *name;
    /** One line for `mserve broker --list-algorithms`. Static storage. */
    const char *description;

    /**
     * Creates the plugin's state. `config` is the text after the algorithm
     * name in MSERVE_ALGO ("chbl:1.5" gives "1.5"), or "" when there is none.
     * `config` is never NULL. Returns NULL on failure; the broker then refuses
     * to start.
     * Each call makes an independent state (a broker may make several).
     */
    void *(*create)(const char *config);

    /**
     * Picks the servant for a query with routing string `routing` (UTF-8, NUL
     * terminated) among `count` servants. Returns an index into `servants`
     * whose in_flight < capacity, or MSERVE_DISPATCH_WAIT. Any other value is
     * treated as WAIT and logged.
     */
    int64_t (*choose)(void *state, const char *routing,
                      const mserve_servant_view *servants, size_t count);

    /** Called when `servant` answered a query of `routing` after `execution_ns`. */
    void (*completed)(void *state, const mserve_servant_view *servant,
                      const char *routing, uint64_t execution_ns);

    /** Frees the state made by `create`. */
    void (*destroy)(void *state);

    /**
     * Optional routing hook (NULL when absent), used when MSERVE_ROUTING is
     * "plugin:NAME". Writes the routing string (UTF-8, NUL terminated) into
     * `out` of `out_capacity` bytes and returns its length, or returns -1 to
     * refuse the query (the client gets an error reply). Like snprintf, a
     * length >= out_capacity means the string did not fit: the broker calls
     * `route` once more with at least length + 1 bytes.
     */
    int64_t (*route)(void *state, const mserve_query_view *query,
                     char *out, size_t out_capacity);

    /**
     * Version 2, optional (NULL when absent): `servant` is free and queries
     * wait in the broker; which of them should it take? `routings` holds the
     * routing strings (UTF-8, NUL terminated) of the `count` queries at the
     * front of the line, up to the broker's look-ahead, in arrival order.
     * Returns an index into `routings`, or MSERVE_DISPATCH_WAIT to leave the
     * choice to `choose`, which is then offered the queries in arrival order
     * as without `take`. A query taken this way is dispatched to `servant`
     * as if `choose` had chosen it (`completed` follows as usual). Any other
     * value is treated as WAIT and logged. The broker asks each free servant,
     * in the order of the list, before offering the queries to `choose`.
     */
    int64_t (*take)(void *state, const mserve_servant_view *servant,
                    const char *const *routings, size_t count);
} mserve_dispatch_plugin;

/** The entry symbol. Returns a table with static storage duration. */
typedef const mserve_dispatch_plugin *(*mserve_dispatch_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* MSERVE_PLUGIN_H */

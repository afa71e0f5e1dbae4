/*
 * mserve_plugin.h — the MServe dispatch plugin ABI.
 *
 * A dispatch plugin is a shared library that decides which servant runs a
 * query. The broker loads it at launch with dlopen(3), looks up the single
 * entry symbol `mserve_dispatch_plugin_entry`, checks `abi_version`, and from
 * then on calls the functions in the returned table from ONE thread (the
 * broker's event loop), never concurrently. A plugin therefore needs no locks,
 * must not block, and must not keep pointers it is given beyond the call that
 * gave them (copy what it needs). While a call runs the broker does nothing
 * else; a call taking 100 ms or more is logged ("the dispatch plugin NAME took
 * ...") and counted (mserve_broker_dispatch_plugin_slow_calls_total).
 *
 * Versioning: fields are only ever appended, and a new field bumps the
 * version. The broker accepts every version from MSERVE_PLUGIN_ABI_MINIMUM to
 * MSERVE_PLUGIN_ABI_VERSION and reads only the fields the plugin's version
 * has (a version 1 table ends after `route`); it refuses any other version.
 *
 * Version 3 lets an algorithm keep its own index instead of scanning every
 * servant on every query: the broker tells it what changed (`observe`, one
 * `mserve_dispatch_event` per change) and asks `choose_in` for a servant by
 * id among a candidate group. A version 3 plugin needs neither `choose` nor
 * `completed` (both may be NULL); the broker then never builds the array of
 * views, so a dispatch costs what the plugin's index costs, whatever the
 * number of servants. Plugins of versions 1 and 2 keep loading and are
 * passed the views as before.
 */
#ifndef MSERVE_PLUGIN_H
#define MSERVE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The ABI version this header describes. Version 2 appended `take`, version 3
 * `observe` and `choose_in`.
 */
#define MSERVE_PLUGIN_ABI_VERSION 3u

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
 * `choose` is passed every ready servant that serves the query's function (the
 * `functions` of its READY; one that announced none serves every function),
 * busy or not, in a stable order (the order they joined): all of them when
 * every ready servant serves the function. A servant is free when
 * in_flight < capacity.
 */
typedef struct mserve_servant_view {
    /**
     * The servant's id, given when the broker adds its endpoint: a new process
     * at the same endpoint (a restart: UNREADY, then READY again) keeps it, as
     * does a servant lost and back, while the broker keeps the endpoint. Never
     * given to another servant while the broker runs: an endpoint removed (the
     * hub dropped it) and added again gets a new one.
     */
    uint64_t id;
    /**
     * Display name: the name the servant's READY gave (`mserve servant
     * --name`), else "host:port" of its endpoint. Not necessarily unique (two
     * servants may be given one --name): tell servants apart by `id`.
     * NUL-terminated UTF-8.
     */
    const char *name;
    /** The host of the servant's endpoint, whatever its name. NUL-terminated UTF-8. */
    const char *host;
    /** Queries dispatched to it and not answered yet. */
    uint32_t in_flight;
    /** How many queries it runs at once (its worker threads). At least 1. */
    uint32_t capacity;
    /** Routing string of the last query dispatched to it; "" if none yet. */
    const char *last_routing;
    /** Queries it has finished (one per completed call), replies after their deadline included. */
    uint64_t queries_served;
    /** Mean execution time of the queries it finished, in nanoseconds; 0 if none. */
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

/** What a `mserve_dispatch_event` reports (its `kind`). Version 3. */
enum mserve_dispatch_event_kind {
    /**
     * The servant entered dispatch (its READY, a restart, a q servant's
     * connection): `view` is its full view, in_flight 0 from the broker, or
     * the queries a servant back from a cut still runs from before (read the
     * field: a test harness may pass another too). It is a member of
     * group 0 from now on. Servants keep the order of their ids: a servant
     * with a smaller id is higher in the list ("the top of the list").
     */
    MSERVE_EVENT_READY = 1,
    /**
     * The servant left dispatch (lost, draining, restarted): the broker will
     * not accept it from `choose_in` until it is READY again.
     * Its GROUP_LEFT events come first.
     */
    MSERVE_EVENT_UNREADY = 2,
    /** The servant was removed from the broker: forget it (its id is never given to another servant). */
    MSERVE_EVENT_REMOVED = 3,
    /**
     * A query of `routing` was sent to the servant (chosen by `choose_in` or
     * `take`): in_flight is one more; the servant is busy when
     * in_flight == capacity. Its last routing string is now `routing`.
     */
    MSERVE_EVENT_DISPATCHED = 4,
    /**
     * The servant answered a query of `routing` after `execution_ns`:
     * in_flight is one less (free again when in_flight < capacity). Replaces
     * version 2's `completed`.
     */
    MSERVE_EVENT_COMPLETED = 5,
    /** The servant joined candidate group `group` (see `choose_in`). */
    MSERVE_EVENT_GROUP_JOINED = 6,
    /** The servant left candidate group `group`. */
    MSERVE_EVENT_GROUP_LEFT = 7
};

/**
 * One change the broker tells a version 3 plugin of (`observe`). Valid only
 * during the call. A plugin ignores kinds it does not know (later versions may
 * add some).
 */
typedef struct mserve_dispatch_event {
    /** A `mserve_dispatch_event_kind`. */
    uint32_t kind;
    /** GROUP_JOINED / GROUP_LEFT: the group; 0 otherwise. */
    uint32_t group;
    /** The servant's id (as in its view). */
    uint64_t servant;
    /** Queries at the servant after the change. */
    uint32_t in_flight;
    /** How many queries it runs at once. At least 1 (0 for REMOVED). */
    uint32_t capacity;
    /** DISPATCHED, COMPLETED: the query's routing string; "" otherwise. Never NULL. */
    const char *routing;
    /** COMPLETED: the execution time in nanoseconds; 0 otherwise. */
    uint64_t execution_ns;
    /** READY: the servant's full view; NULL otherwise. */
    const mserve_servant_view *view;
} mserve_dispatch_event;

/**
 * The function table a plugin exports. `create` and `destroy` are required;
 * so are `choose` and `completed` below version 3, and `observe` and
 * `choose_in` from version 3.
 */
typedef struct mserve_dispatch_plugin {
    /**
     * The ABI version the plugin is written against: MSERVE_PLUGIN_ABI_VERSION
     * for a new plugin. Versions 1 to 3 load; each takes the fields this
     * header marks for it.
     */
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
     * whose in_flight < capacity, or MSERVE_DISPATCH_WAIT. Any other value
     * fails the query (its client gets an error) and is logged.
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
     * front of the line, up to the broker's look-ahead, that call a function
     * the servant serves, in arrival order.
     * Returns an index into `routings`, or MSERVE_DISPATCH_WAIT to leave the
     * choice to `choose`, which is then offered the queries in arrival order
     * as without `take`. A query taken this way is dispatched to `servant`
     * as if `choose` had chosen it (`completed` follows as usual). Any other
     * value is treated as WAIT and logged. The broker asks each free servant
     * that serves the function of one of those queries (no other), in the
     * order of the list, before offering the queries to `choose`.
     */
    int64_t (*take)(void *state, const mserve_servant_view *servant,
                    const char *const *routings, size_t count);

    /**
     * Version 3, required: one change of the servants (an `mserve_dispatch_event`).
     * The events of a servant come in the order they happen: READY, then its
     * GROUP_JOINED events; DISPATCHED and COMPLETED while it is ready (the
     * answers of a draining or lost servant's queries are not reported); its
     * GROUP_LEFT events, then UNREADY; REMOVED last. Nothing is returned: the
     * plugin updates its index, in O(1) if it can.
     */
    void (*observe)(void *state, const mserve_dispatch_event *event);

    /**
     * Version 3, required: picks the servant for a query with routing string
     * `routing` calling `function` (UTF-8, NUL terminated), among the members
     * of candidate group `group`, and returns its id (a ready member with
     * in_flight < capacity), or MSERVE_DISPATCH_WAIT.
     *
     * Group 0 is every ready servant: the broker passes it when every ready
     * servant serves the query's function (the usual case). When only some
     * do, the broker gives the function a group of its own (an id from 1 up,
     * assigned once per function and never reused for another) and reports
     * its members with GROUP_JOINED and GROUP_LEFT events (all its ready
     * members join before the first `choose_in` naming it). A plugin keeps
     * its index per group, or one index and a membership test; it must not
     * return a servant outside `group`. Any other result (not a ready free
     * member) fails the query, as for `choose`.
     */
    int64_t (*choose_in)(void *state, const char *routing, const char *function, uint32_t group);
} mserve_dispatch_plugin;

/** The entry symbol. Returns a table with static storage duration. */
typedef const mserve_dispatch_plugin *(*mserve_dispatch_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* MSERVE_PLUGIN_H */

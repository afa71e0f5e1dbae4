/*
 * least-loaded: a dispatch plugin written in C, against mserve_plugin.h alone (ABI version 3).
 *
 * Picks the free servant with the smallest in_flight / capacity ratio; ties go to the lower
 * mean execution time, then to the servant higher in the list. It keeps its own table of the
 * ready servants from the broker's events, in list order (by id), so a choice reads a compact
 * array of numbers instead of being handed every servant's view.
 */
#include "mserve_plugin.h"

#include <stdlib.h>
#include <string.h>

/* One ready servant, as the events told it. */
typedef struct servant {
    uint64_t id;
    uint32_t in_flight;
    uint32_t capacity;
    uint64_t served;
    uint64_t total_execution_ns;
    /* The mean its READY view gave, used while it has answered nothing since. */
    uint64_t ready_mean_ns;
    /* The candidate groups it is a member of (besides 0). */
    uint32_t *groups;
    size_t group_count;
} servant;

/* The ready servants, sorted by id. */
typedef struct least_loaded {
    servant *servants;
    size_t count;
    size_t capacity;
} least_loaded;

/* It takes no configuration: any (least-loaded:xyz) is refused, as NULL stops the launch. */
static void *least_loaded_create(const char *config) {
    if (config != NULL && config[0] != '\0') return NULL;
    return calloc(1, sizeof(least_loaded));
}

static void least_loaded_destroy(void *state) {
    least_loaded *table = state;
    for (size_t index = 0; index < table->count; index++) free(table->servants[index].groups);
    free(table->servants);
    free(table);
}

/* The position of servant `id` in the table, or where it would go (binary search). */
static size_t least_loaded_position(const least_loaded *table, uint64_t id) {
    size_t low = 0, high = table->count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (table->servants[middle].id < id) low = middle + 1; else high = middle;
    }
    return low;
}

static servant *least_loaded_find(least_loaded *table, uint64_t id) {
    size_t position = least_loaded_position(table, id);
    return position < table->count && table->servants[position].id == id ? &table->servants[position] : NULL;
}

static void least_loaded_remove(least_loaded *table, uint64_t id) {
    size_t position = least_loaded_position(table, id);
    if (position >= table->count || table->servants[position].id != id) return;
    free(table->servants[position].groups);
    memmove(&table->servants[position], &table->servants[position + 1],
            (table->count - position - 1) * sizeof(servant));
    table->count--;
}

static void least_loaded_observe(void *state, const mserve_dispatch_event *event) {
    least_loaded *table = state;
    servant *found;
    switch (event->kind) {
    case MSERVE_EVENT_READY: {
        least_loaded_remove(table, event->servant);
        if (table->count == table->capacity) {
            size_t capacity = table->capacity ? 2 * table->capacity : 16;
            servant *grown = realloc(table->servants, capacity * sizeof(servant));
            if (grown == NULL) return; /* out of memory: the servant is not chosen */
            table->servants = grown;
            table->capacity = capacity;
        }
        size_t position = least_loaded_position(table, event->servant);
        memmove(&table->servants[position + 1], &table->servants[position],
                (table->count - position) * sizeof(servant));
        table->count++;
        servant fresh = {.id = event->servant, .in_flight = event->in_flight, .capacity = event->capacity};
        if (event->view != NULL) {
            fresh.served = event->view->queries_served;
            fresh.total_execution_ns = event->view->mean_execution_ns * event->view->queries_served;
            fresh.ready_mean_ns = event->view->mean_execution_ns;
        }
        table->servants[position] = fresh;
        break;
    }
    case MSERVE_EVENT_UNREADY:
    case MSERVE_EVENT_REMOVED:
        least_loaded_remove(table, event->servant);
        break;
    case MSERVE_EVENT_DISPATCHED:
        if ((found = least_loaded_find(table, event->servant)) != NULL) found->in_flight = event->in_flight;
        break;
    case MSERVE_EVENT_COMPLETED:
        if ((found = least_loaded_find(table, event->servant)) != NULL) {
            found->in_flight = event->in_flight;
            found->served++;
            found->total_execution_ns += event->execution_ns;
        }
        break;
    case MSERVE_EVENT_GROUP_JOINED:
        if ((found = least_loaded_find(table, event->servant)) != NULL) {
            uint32_t *grown = realloc(found->groups, (found->group_count + 1) * sizeof(uint32_t));
            if (grown == NULL) return;
            found->groups = grown;
            found->groups[found->group_count++] = event->group;
        }
        break;
    case MSERVE_EVENT_GROUP_LEFT:
        if ((found = least_loaded_find(table, event->servant)) != NULL) {
            for (size_t index = 0; index < found->group_count; index++) {
                if (found->groups[index] == event->group) {
                    found->groups[index] = found->groups[--found->group_count];
                    break;
                }
            }
        }
        break;
    default:
        break; /* a kind of a later version */
    }
}

static uint64_t least_loaded_mean(const servant *servant) {
    return servant->served == 0 ? servant->ready_mean_ns : servant->total_execution_ns / servant->served;
}

/* Whether a is less loaded than b: compares in_flight/capacity without division. */
static int least_loaded_less(const servant *a, const servant *b) {
    uint64_t left = (uint64_t)a->in_flight * b->capacity;
    uint64_t right = (uint64_t)b->in_flight * a->capacity;
    if (left != right) return left < right;
    return least_loaded_mean(a) < least_loaded_mean(b);
}

static int least_loaded_member(const servant *servant, uint32_t group) {
    if (group == 0) return 1;
    for (size_t index = 0; index < servant->group_count; index++)
        if (servant->groups[index] == group) return 1;
    return 0;
}

static int64_t least_loaded_choose_in(void *state, const char *routing, const char *function, uint32_t group) {
    (void)routing;
    (void)function;
    const least_loaded *table = state;
    const servant *best = NULL;
    for (size_t index = 0; index < table->count; index++) {
        const servant *candidate = &table->servants[index];
        if (candidate->in_flight >= candidate->capacity || !least_loaded_member(candidate, group)) continue;
        /* An idle servant is the least loaded there can be: ties go to the mean, then the list. */
        if (best == NULL || least_loaded_less(candidate, best)) best = candidate;
    }
    return best == NULL ? MSERVE_DISPATCH_WAIT : (int64_t)best->id;
}

static const mserve_dispatch_plugin least_loaded_plugin = {
    .abi_version = MSERVE_PLUGIN_ABI_VERSION,
    .name = "least-loaded",
    .description = "the free servant with the lowest in-flight/capacity ratio, ties to the faster one",
    .create = least_loaded_create,
    .choose = NULL,
    .completed = NULL,
    .destroy = least_loaded_destroy,
    .route = NULL,
    .take = NULL,
    .observe = least_loaded_observe,
    .choose_in = least_loaded_choose_in,
};

const mserve_dispatch_plugin *mserve_dispatch_plugin_entry(void) {
    return &least_loaded_plugin;
}

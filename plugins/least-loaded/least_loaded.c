/*
 * least-loaded: a dispatch plugin written in C, against mserve_plugin.h alone (ABI version 3).
 *
 * Picks the free servant with the smallest in_flight / capacity ratio; ties go to the lower
 * mean execution time, then to the servant higher in the list (the smaller id).
 *
 * It keeps its own index of the ready servants from the broker's events: per candidate group
 * (group 0: every ready servant) a 4-ary min-heap of the free members, ordered as above, so
 * `choose_in` reads the top of one heap, whatever the number of servants, and each DISPATCHED
 * or COMPLETED event moves one servant in its heaps (O(log n) per group it is a member of).
 * Each heap entry holds its servant's key, so a comparison reads only the heap's memory.
 * Servants are found by id in an open-addressing hash table; their records stay in place.
 */
#include "mserve_plugin.h"

#include <stdlib.h>
#include <string.h>

/* A position meaning "not in this heap" (the servant is busy). */
#define NOT_IN_HEAP SIZE_MAX

/* One ready servant, as the events told it. */
typedef struct servant {
    uint64_t id;
    uint32_t in_flight;
    uint32_t capacity;
    uint64_t served;
    uint64_t total_execution_ns;
    /* The mean its READY view gave, used while it has answered nothing since. */
    uint64_t ready_mean_ns;
    /* The mean compared by the heaps: ready_mean_ns, then total_execution_ns / served. */
    uint64_t mean_ns;
    /* Its position in group 0's heap, or NOT_IN_HEAP. */
    size_t position;
    /* The candidate groups it is a member of (besides 0), and its position in each one's heap. */
    uint32_t *groups;
    size_t *group_positions;
    size_t group_count;
} servant;

/* A heap entry: a free servant's key (kept in step with its record) and its slot, so that
   comparisons read the heap's own memory. */
typedef struct heap_entry {
    uint32_t in_flight;
    uint32_t capacity;
    uint64_t mean_ns;
    uint64_t id;
    size_t slot;
} heap_entry;

/* The free members of one candidate group, as a min-heap (least loaded on top). */
typedef struct heap {
    uint32_t group;
    heap_entry *entries;
    size_t count;
    size_t capacity;
} heap;

typedef struct least_loaded {
    /* The servant records by slot; the slots of servants that left are reused. */
    servant *servants;
    size_t slot_count;
    size_t slot_capacity;
    size_t *vacant;
    size_t vacant_count;
    size_t vacant_capacity;
    /* id -> slot + 1 (0: empty), linear probing; table_size is 0 or a power of two. */
    uint64_t *keys;
    size_t *values;
    size_t table_size;
    size_t table_count;
    /* Group 0's heap, and the other groups' heaps. */
    heap every;
    heap *groups;
    size_t group_count;
    size_t group_capacity;
} least_loaded;

/* It takes no configuration: any (least-loaded:xyz) is refused, as NULL stops the launch. */
static void *least_loaded_create(const char *config) {
    if (config != NULL && config[0] != '\0') return NULL;
    return calloc(1, sizeof(least_loaded));
}

static void least_loaded_destroy(void *state) {
    least_loaded *table = state;
    for (size_t slot = 0; slot < table->slot_count; slot++) {
        free(table->servants[slot].groups);
        free(table->servants[slot].group_positions);
    }
    for (size_t index = 0; index < table->group_count; index++) free(table->groups[index].entries);
    free(table->groups);
    free(table->every.entries);
    free(table->servants);
    free(table->vacant);
    free(table->keys);
    free(table->values);
    free(table);
}

/* ---- id -> slot ---- */

static size_t least_loaded_hash(uint64_t id) {
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)id;
}

/* The slot of servant `id`, or SIZE_MAX. */
static size_t least_loaded_slot(const least_loaded *table, uint64_t id) {
    if (table->table_size == 0) return SIZE_MAX;
    size_t mask = table->table_size - 1;
    for (size_t index = least_loaded_hash(id) & mask; table->values[index] != 0; index = (index + 1) & mask)
        if (table->keys[index] == id) return table->values[index] - 1;
    return SIZE_MAX;
}

static int least_loaded_table_put(least_loaded *table, uint64_t id, size_t slot) {
    if ((table->table_count + 1) * 2 > table->table_size) {
        size_t size = table->table_size ? 2 * table->table_size : 16;
        uint64_t *keys = calloc(size, sizeof(uint64_t));
        size_t *values = calloc(size, sizeof(size_t));
        if (keys == NULL || values == NULL) {
            free(keys);
            free(values);
            return 0;
        }
        for (size_t index = 0; index < table->table_size; index++) {
            if (table->values[index] == 0) continue;
            size_t at = least_loaded_hash(table->keys[index]) & (size - 1);
            while (values[at] != 0) at = (at + 1) & (size - 1);
            keys[at] = table->keys[index];
            values[at] = table->values[index];
        }
        free(table->keys);
        free(table->values);
        table->keys = keys;
        table->values = values;
        table->table_size = size;
    }
    size_t mask = table->table_size - 1;
    size_t index = least_loaded_hash(id) & mask;
    while (table->values[index] != 0 && table->keys[index] != id) index = (index + 1) & mask;
    if (table->values[index] == 0) table->table_count++;
    table->keys[index] = id;
    table->values[index] = slot + 1;
    return 1;
}

/* Removes `id` with backward-shift deletion (no tombstones). */
static void least_loaded_table_remove(least_loaded *table, uint64_t id) {
    if (table->table_size == 0) return;
    size_t mask = table->table_size - 1;
    size_t hole = least_loaded_hash(id) & mask;
    while (table->values[hole] != 0 && table->keys[hole] != id) hole = (hole + 1) & mask;
    if (table->values[hole] == 0) return;
    for (size_t next = (hole + 1) & mask; table->values[next] != 0; next = (next + 1) & mask) {
        size_t home = least_loaded_hash(table->keys[next]) & mask;
        /* An entry whose home lies cyclically in (hole, next] stays where it is. */
        int stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
        if (stays) continue;
        table->keys[hole] = table->keys[next];
        table->values[hole] = table->values[next];
        hole = next;
    }
    table->values[hole] = 0;
    table->table_count--;
}

/* ---- the heaps ---- */

/* Whether a is less loaded than b: in_flight/capacity compared without division, then the
   mean execution time, then the list order (id). */
static int least_loaded_less(const heap_entry *a, const heap_entry *b) {
    uint64_t left = (uint64_t)a->in_flight * b->capacity;
    uint64_t right = (uint64_t)b->in_flight * a->capacity;
    if (left != right) return left < right;
    if (a->mean_ns != b->mean_ns) return a->mean_ns < b->mean_ns;
    return a->id < b->id;
}

/* The key of servant `slot`, as its heap entries hold it. */
static heap_entry least_loaded_entry(const least_loaded *table, size_t slot) {
    const servant *member = &table->servants[slot];
    heap_entry entry = {.in_flight = member->in_flight, .capacity = member->capacity, .mean_ns = member->mean_ns,
                        .id = member->id, .slot = slot};
    return entry;
}

/* Where servant `slot` notes its position in `heap`. */
static size_t *least_loaded_position(least_loaded *table, const heap *heap, size_t slot) {
    servant *member = &table->servants[slot];
    if (heap == &table->every) return &member->position;
    for (size_t index = 0; index < member->group_count; index++)
        if (member->groups[index] == heap->group) return &member->group_positions[index];
    return NULL; /* not a member: never happens, as only members are pushed */
}

static void least_loaded_place(least_loaded *table, heap *heap, size_t index, heap_entry entry) {
    heap->entries[index] = entry;
    size_t *position = least_loaded_position(table, heap, entry.slot);
    if (position != NULL) *position = index;
}

/* The heaps are 4-ary: half the levels of a binary heap, and a node's children are adjacent. */
#define LEAST_LOADED_ARITY 4

static void least_loaded_sift_up(least_loaded *table, heap *heap, size_t index) {
    heap_entry entry = heap->entries[index];
    while (index > 0) {
        size_t parent = (index - 1) / LEAST_LOADED_ARITY;
        if (!least_loaded_less(&entry, &heap->entries[parent])) break;
        least_loaded_place(table, heap, index, heap->entries[parent]);
        index = parent;
    }
    least_loaded_place(table, heap, index, entry);
}

static void least_loaded_sift_down(least_loaded *table, heap *heap, size_t index) {
    heap_entry entry = heap->entries[index];
    for (;;) {
        size_t first = LEAST_LOADED_ARITY * index + 1;
        if (first >= heap->count) break;
        size_t last = first + LEAST_LOADED_ARITY < heap->count ? first + LEAST_LOADED_ARITY : heap->count;
        size_t least = first;
        for (size_t child = first + 1; child < last; child++)
            if (least_loaded_less(&heap->entries[child], &heap->entries[least])) least = child;
        if (!least_loaded_less(&heap->entries[least], &entry)) break;
        least_loaded_place(table, heap, index, heap->entries[least]);
        index = least;
    }
    least_loaded_place(table, heap, index, entry);
}

/* Moves the entry at `index` up or down to where its key now belongs. */
static void least_loaded_fix(least_loaded *table, heap *heap, size_t index) {
    if (index > 0 && least_loaded_less(&heap->entries[index], &heap->entries[(index - 1) / LEAST_LOADED_ARITY]))
        least_loaded_sift_up(table, heap, index);
    else
        least_loaded_sift_down(table, heap, index);
}

static void least_loaded_push(least_loaded *table, heap *heap, size_t slot) {
    if (heap->count == heap->capacity) {
        size_t capacity = heap->capacity ? 2 * heap->capacity : 16;
        heap_entry *grown = realloc(heap->entries, capacity * sizeof(heap_entry));
        if (grown == NULL) return; /* out of memory: the servant is not chosen from this group */
        heap->entries = grown;
        heap->capacity = capacity;
    }
    heap->entries[heap->count++] = least_loaded_entry(table, slot);
    least_loaded_sift_up(table, heap, heap->count - 1);
}

static void least_loaded_pop_at(least_loaded *table, heap *heap, size_t index) {
    size_t *position = least_loaded_position(table, heap, heap->entries[index].slot);
    if (position != NULL) *position = NOT_IN_HEAP;
    heap->count--;
    if (index == heap->count) return;
    least_loaded_place(table, heap, index, heap->entries[heap->count]);
    least_loaded_fix(table, heap, index);
}

/* The heap of group `group` (not 0), or NULL; made when `create` and it has none yet. */
static heap *least_loaded_group(least_loaded *table, uint32_t group, int create) {
    for (size_t index = 0; index < table->group_count; index++)
        if (table->groups[index].group == group) return &table->groups[index];
    if (!create) return NULL;
    if (table->group_count == table->group_capacity) {
        size_t capacity = table->group_capacity ? 2 * table->group_capacity : 4;
        heap *grown = realloc(table->groups, capacity * sizeof(heap));
        if (grown == NULL) return NULL;
        table->groups = grown;
        table->group_capacity = capacity;
    }
    heap *made = &table->groups[table->group_count++];
    memset(made, 0, sizeof(heap));
    made->group = group;
    return made;
}

/* Puts servant `slot` where it belongs in one heap after a change: in while free, out while busy. */
static void least_loaded_sync(least_loaded *table, heap *heap, size_t slot, size_t position) {
    const servant *member = &table->servants[slot];
    int is_free = member->in_flight < member->capacity;
    if (position == NOT_IN_HEAP) {
        if (is_free) least_loaded_push(table, heap, slot);
    } else if (!is_free) {
        least_loaded_pop_at(table, heap, position);
    } else {
        heap->entries[position] = least_loaded_entry(table, slot);
        least_loaded_fix(table, heap, position);
    }
}

/* Puts servant `slot` where it belongs in every heap of its groups. */
static void least_loaded_sync_all(least_loaded *table, size_t slot) {
    least_loaded_sync(table, &table->every, slot, table->servants[slot].position);
    for (size_t index = 0; index < table->servants[slot].group_count; index++) {
        heap *group = least_loaded_group(table, table->servants[slot].groups[index], 0);
        if (group != NULL) least_loaded_sync(table, group, slot, table->servants[slot].group_positions[index]);
    }
}

/* ---- the events ---- */

static void least_loaded_leave_group(least_loaded *table, size_t slot, size_t index) {
    servant *member = &table->servants[slot];
    heap *group = least_loaded_group(table, member->groups[index], 0);
    if (group != NULL && member->group_positions[index] != NOT_IN_HEAP)
        least_loaded_pop_at(table, group, member->group_positions[index]);
    member->group_count--;
    member->groups[index] = member->groups[member->group_count];
    member->group_positions[index] = member->group_positions[member->group_count];
}

static void least_loaded_remove(least_loaded *table, uint64_t id) {
    size_t slot = least_loaded_slot(table, id);
    if (slot == SIZE_MAX) return;
    servant *member = &table->servants[slot];
    while (member->group_count > 0) least_loaded_leave_group(table, slot, member->group_count - 1);
    if (member->position != NOT_IN_HEAP) least_loaded_pop_at(table, &table->every, member->position);
    free(member->groups);
    free(member->group_positions);
    memset(member, 0, sizeof(servant));
    member->position = NOT_IN_HEAP;
    least_loaded_table_remove(table, id);
    if (table->vacant_count == table->vacant_capacity) {
        size_t capacity = table->vacant_capacity ? 2 * table->vacant_capacity : 16;
        size_t *grown = realloc(table->vacant, capacity * sizeof(size_t));
        if (grown == NULL) return; /* the slot is not reused */
        table->vacant = grown;
        table->vacant_capacity = capacity;
    }
    table->vacant[table->vacant_count++] = slot;
}

static void least_loaded_ready(least_loaded *table, const mserve_dispatch_event *event) {
    least_loaded_remove(table, event->servant);
    size_t slot;
    if (table->vacant_count > 0) {
        slot = table->vacant[--table->vacant_count];
    } else {
        if (table->slot_count == table->slot_capacity) {
            size_t capacity = table->slot_capacity ? 2 * table->slot_capacity : 16;
            servant *grown = realloc(table->servants, capacity * sizeof(servant));
            if (grown == NULL) return; /* out of memory: the servant is not chosen */
            table->servants = grown;
            table->slot_capacity = capacity;
        }
        slot = table->slot_count++;
    }
    servant fresh = {.id = event->servant, .in_flight = event->in_flight, .capacity = event->capacity,
                     .position = NOT_IN_HEAP};
    if (event->view != NULL) {
        fresh.served = event->view->queries_served;
        fresh.total_execution_ns = event->view->mean_execution_ns * event->view->queries_served;
        fresh.ready_mean_ns = event->view->mean_execution_ns;
        fresh.mean_ns = fresh.ready_mean_ns;
    }
    table->servants[slot] = fresh;
    /* Out of memory: the servant is not chosen (its slot stays unused). */
    if (!least_loaded_table_put(table, event->servant, slot)) return;
    least_loaded_sync(table, &table->every, slot, NOT_IN_HEAP);
}

static void least_loaded_join(least_loaded *table, size_t slot, uint32_t group) {
    servant *member = &table->servants[slot];
    for (size_t index = 0; index < member->group_count; index++)
        if (member->groups[index] == group) return;
    heap *heap = least_loaded_group(table, group, 1);
    if (heap == NULL) return;
    uint32_t *groups = realloc(member->groups, (member->group_count + 1) * sizeof(uint32_t));
    if (groups == NULL) return;
    member->groups = groups;
    size_t *positions = realloc(member->group_positions, (member->group_count + 1) * sizeof(size_t));
    if (positions == NULL) return;
    member->group_positions = positions;
    member->groups[member->group_count] = group;
    member->group_positions[member->group_count] = NOT_IN_HEAP;
    member->group_count++;
    least_loaded_sync(table, heap, slot, NOT_IN_HEAP);
}

static void least_loaded_observe(void *state, const mserve_dispatch_event *event) {
    least_loaded *table = state;
    size_t slot;
    switch (event->kind) {
    case MSERVE_EVENT_READY:
        least_loaded_ready(table, event);
        break;
    case MSERVE_EVENT_UNREADY:
    case MSERVE_EVENT_REMOVED:
        least_loaded_remove(table, event->servant);
        break;
    case MSERVE_EVENT_DISPATCHED:
        if ((slot = least_loaded_slot(table, event->servant)) == SIZE_MAX) break;
        table->servants[slot].in_flight = event->in_flight;
        least_loaded_sync_all(table, slot);
        break;
    case MSERVE_EVENT_COMPLETED: {
        if ((slot = least_loaded_slot(table, event->servant)) == SIZE_MAX) break;
        servant *member = &table->servants[slot];
        member->in_flight = event->in_flight;
        member->served++;
        member->total_execution_ns += event->execution_ns;
        member->mean_ns = member->total_execution_ns / member->served;
        least_loaded_sync_all(table, slot);
        break;
    }
    case MSERVE_EVENT_GROUP_JOINED:
        if (event->group == 0 || (slot = least_loaded_slot(table, event->servant)) == SIZE_MAX) break;
        least_loaded_join(table, slot, event->group);
        break;
    case MSERVE_EVENT_GROUP_LEFT:
        if ((slot = least_loaded_slot(table, event->servant)) == SIZE_MAX) break;
        for (size_t index = 0; index < table->servants[slot].group_count; index++) {
            if (table->servants[slot].groups[index] == event->group) {
                least_loaded_leave_group(table, slot, index);
                break;
            }
        }
        break;
    default:
        break; /* a kind of a later version */
    }
}

static int64_t least_loaded_choose_in(void *state, const char *routing, const char *function, uint32_t group) {
    (void)routing;
    (void)function;
    least_loaded *table = state;
    const heap *candidates = group == 0 ? &table->every : least_loaded_group(table, group, 0);
    if (candidates == NULL || candidates->count == 0) return MSERVE_DISPATCH_WAIT;
    return (int64_t)candidates->entries[0].id;
}

static const mserve_dispatch_plugin least_loaded_plugin = {
    .abi_version = MSERVE_PLUGIN_ABI_VERSION,
    .name = "least-loaded",
    .description = "the free servant with the lowest in-flight/capacity ratio, ties to the faster one; takes no configuration",
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

/*
 * least-loaded: a dispatch plugin written in C, against mserve_plugin.h alone.
 *
 * Picks the free servant with the smallest in_flight / capacity ratio; ties go to the lower
 * mean execution time, then to the servant higher in the list. Keeps no state.
 */
#include "mserve_plugin.h"

/* create returns non-NULL to accept: one static byte stands for the (empty) state. */
static char least_loaded_state;

/* It takes no configuration: any (least-loaded:xyz) is refused, as NULL stops the launch. */
static void *least_loaded_create(const char *config) {
    if (config != NULL && config[0] != '\0') return NULL;
    return &least_loaded_state;
}

/* Whether a is less loaded than b: compares in_flight/capacity without division. */
static int least_loaded_less(const mserve_servant_view *a, const mserve_servant_view *b) {
    uint64_t left = (uint64_t)a->in_flight * b->capacity;
    uint64_t right = (uint64_t)b->in_flight * a->capacity;
    if (left != right) {
        return left < right;
    }
    return a->mean_execution_ns < b->mean_execution_ns;
}

static int64_t least_loaded_choose(void *state, const char *routing,
                                   const mserve_servant_view *servants, size_t count) {
    (void)state;
    (void)routing;
    int64_t best = MSERVE_DISPATCH_WAIT;
    for (size_t index = 0; index < count; index++) {
        const mserve_servant_view *servant = &servants[index];
        if (servant->in_flight >= servant->capacity) {
            continue;
        }
        if (best == MSERVE_DISPATCH_WAIT || least_loaded_less(servant, &servants[best])) {
            best = (int64_t)index;
        }
    }
    return best;
}

static void least_loaded_completed(void *state, const mserve_servant_view *servant,
                                   const char *routing, uint64_t execution_ns) {
    (void)state;
    (void)servant;
    (void)routing;
    (void)execution_ns;
}

static void least_loaded_destroy(void *state) {
    (void)state;
}

static const mserve_dispatch_plugin least_loaded_plugin = {
    .abi_version = MSERVE_PLUGIN_ABI_VERSION,
    .name = "least-loaded",
    .description = "the free servant with the lowest in-flight/capacity ratio, ties to the faster one",
    .create = least_loaded_create,
    .choose = least_loaded_choose,
    .completed = least_loaded_completed,
    .destroy = least_loaded_destroy,
    .route = NULL,
};

const mserve_dispatch_plugin *mserve_dispatch_plugin_entry(void) {
    return &least_loaded_plugin;
}

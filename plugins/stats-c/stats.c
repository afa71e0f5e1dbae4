/*
 * stats.c — a servant plugin written in C: `stats x` over a numeric vector.
 *
 * `stats 1.0 2.0 3.0` returns the dictionary
 *     `count`mean`min`max`stdev!(3j; 2f; 1f; 3f; 0.8164966f)
 * over a float, long or int vector. Nulls are skipped (count counts the
 * others); with no values left, mean, min, max and stdev are float nulls.
 * stdev is the population standard deviation, like q's `dev`.
 *
 * It decodes and encodes the kdb+ IPC bytes by hand, to show the ABI needs
 * nothing but C. It keeps no state, so concurrent calls are safe.
 */
#include "mserve_servant_plugin.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* q type codes used here. */
enum { Q_LIST = 0, Q_INT = 6, Q_LONG = 7, Q_FLOAT = 9, Q_SYMBOL = 11, Q_DICTIONARY = 99 };
enum { Q_LONG_ATOM = -7, Q_FLOAT_ATOM = -9 };

/* Summary of the non-null values seen, Welford style for a stable variance. */
typedef struct summary {
    int64_t count;
    double mean, m2, min, max;
} summary;

static void summary_add(summary *s, double x) {
    s->count += 1;
    double delta = x - s->mean;
    s->mean += delta / (double)s->count;
    s->m2 += delta * (x - s->mean);
    if (s->count == 1 || x < s->min) s->min = x;
    if (s->count == 1 || x > s->max) s->max = x;
}

/* Stores a copy of `text` as the error (NULL if out of memory: the servant then says "failed"). */
static int32_t fail(mserve_servant_result *out, const char *text) {
    size_t size = strlen(text) + 1;
    out->error = malloc(size);
    if (out->error != NULL) memcpy(out->error, text, size);
    return MSERVE_SERVANT_CALL_FAILED;
}

static int32_t read_i32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

/* Little-endian hosts only (the servant sends little-endian; so do x86-64 and arm64). */
static void put_bytes(uint8_t **p, const void *bytes, size_t n) { memcpy(*p, bytes, n); *p += n; }
static void put_i8(uint8_t **p, int8_t v) { put_bytes(p, &v, 1); }
static void put_i32(uint8_t **p, int32_t v) { put_bytes(p, &v, 4); }

static const char key_text[] = "count\0mean\0min\0max\0stdev"; /* 5 NUL-terminated symbols */

static int32_t stats_call(const uint8_t *args, size_t len, mserve_servant_result *out) {
    /* Header: endianness (1 = little), message type, compressed flag, 0, int32 total length. */
    if (args == NULL || len < 8 + 6 || args[0] != 1 || args[2] != 0 || (size_t)read_i32(args + 4) != len)
        return fail(out, "stats: the arguments are not an uncompressed little-endian kdb+ IPC message");
    const uint8_t *p = args + 8, *end = args + len;
    /* Payload: a general list (type 0, attribute, int32 count) of one argument. */
    if ((int8_t)p[0] != Q_LIST || read_i32(p + 2) != 1)
        return fail(out, "stats: rank: expected one argument");
    p += 6;
    if (end - p < 6)
        return fail(out, "stats: type: expected a float, long or int vector such as 1.0 2.0 3.0");
    int8_t type = (int8_t)p[0];
    int32_t n = read_i32(p + 2);
    size_t width = type == Q_FLOAT || type == Q_LONG ? 8 : type == Q_INT ? 4 : 0;
    if (width == 0)
        return fail(out, "stats: type: expected a float, long or int vector such as 1.0 2.0 3.0");
    p += 6;
    if (n < 0 || (size_t)(end - p) != (size_t)n * width)
        return fail(out, "stats: length: the vector's length does not match the message");

    summary s = {0, 0.0, 0.0, 0.0, 0.0};
    for (int32_t i = 0; i < n; i++, p += width) {
        if (type == Q_FLOAT) {
            double v; memcpy(&v, p, 8);
            if (!isnan(v)) summary_add(&s, v);
        } else if (type == Q_LONG) {
            int64_t v; memcpy(&v, p, 8);
            if (v != INT64_MIN) summary_add(&s, (double)v);
        } else {
            int32_t v = read_i32(p);
            if (v != INT32_MIN) summary_add(&s, (double)v);
        }
    }
    double values[4] = {NAN, NAN, NAN, NAN};
    if (s.count > 0) {
        values[0] = s.mean;
        values[1] = s.min;
        values[2] = s.max;
        values[3] = sqrt(s.m2 / (double)s.count);
    }

    /* `count`mean`min`max`stdev!(count; mean; min; max; stdev) */
    size_t total = 8 + 1 + (6 + sizeof key_text) + (6 + 9 + 4 * 9);
    uint8_t *bytes = malloc(total), *w = bytes;
    if (bytes == NULL) return fail(out, "stats: wsfull");
    uint8_t header[4] = {1, 2, 0, 0}; /* little-endian, response, uncompressed */
    put_bytes(&w, header, 4);
    put_i32(&w, (int32_t)total);
    put_i8(&w, Q_DICTIONARY);
    put_i8(&w, Q_SYMBOL); put_i8(&w, 0); put_i32(&w, 5);
    put_bytes(&w, key_text, sizeof key_text);
    put_i8(&w, Q_LIST); put_i8(&w, 0); put_i32(&w, 5);
    put_i8(&w, Q_LONG_ATOM); put_bytes(&w, &s.count, 8);
    for (int i = 0; i < 4; i++) { put_i8(&w, Q_FLOAT_ATOM); put_bytes(&w, &values[i], 8); }
    out->result_ipc = bytes;
    out->result_len = total;
    return MSERVE_SERVANT_CALL_OK;
}

static const mserve_servant_function functions[] = {
    {.name = "stats", .min_arity = 1, .max_arity = 1},
};

static int32_t call(size_t index, const uint8_t *args, size_t len, mserve_servant_result *out) {
    if (index == 0) return stats_call(args, len, out);
    return fail(out, "stats plugin: no such function");
}

static void free_result(mserve_servant_result *result) {
    free(result->result_ipc);
    free(result->error);
    result->result_ipc = NULL;
    result->error = NULL;
}

static const mserve_servant_plugin table = {
    .abi_version = MSERVE_SERVANT_PLUGIN_ABI_VERSION,
    .name = "stats",
    .description = "count, mean, min, max and stdev of a numeric vector",
    .function_count = sizeof functions / sizeof functions[0],
    .functions = functions,
    .call = call,
    .free_result = free_result,
};

const mserve_servant_plugin *mserve_servant_plugin_entry(void) { return &table; }

// CTestParallelism: see include/CTestParallelism.h.
#include "CTestParallelism.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const widthVariable = "SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH";
static int widthSet = 0;

// Runs as the test bundle loads, before main, so before Swift Testing reads its configuration.
__attribute__((constructor)) static void mserve_cap_test_parallelization_width(void) {
    if (getenv(widthVariable) != NULL) return;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) cores = 1;
    char width[32];
    snprintf(width, sizeof width, "%ld", cores * MSERVE_TESTS_PER_CORE);
    if (setenv(widthVariable, width, 0) == 0) widthSet = (int)(cores * MSERVE_TESTS_PER_CORE);
}

int mserve_test_parallelization_width_set(void) { return widthSet; }

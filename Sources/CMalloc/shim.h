// CMalloc: glibc's allocator controls (mallopt, malloc_trim), which the Glibc module leaves out.
#ifndef MSERVE_CMALLOC_SHIM_H
#define MSERVE_CMALLOC_SHIM_H
#include <malloc.h>
#endif

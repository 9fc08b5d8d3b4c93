/*
 * Sorted arrays for the workers' per-batch state: records name entities in any order and
 * repeat them; a batch sorts what it loads once, drops repeats, and finds entries with
 * bsearch() under the same comparison.
 */
#ifndef SS_SORT_H
#define SS_SORT_H

#include <stddef.h>

/*
 * Sorts items[0..count) (each size bytes) with compare and keeps the first of every run of
 * entries that compare equal, in place. Returns how many remain.
 */
size_t ss_sort_unique(void *items, size_t count, size_t size,
                      int (*compare)(const void *left, const void *right));

#endif

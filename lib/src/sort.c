/* Sort and drop repeats in place (see ss/sort.h). */
#include "ss/sort.h"

#include <stdlib.h>
#include <string.h>

size_t ss_sort_unique(void *items, size_t count, size_t size,
                      int (*compare)(const void *left, const void *right))
{
    if (count == 0) {
        return 0;
    }
    qsort(items, count, size, compare);
    unsigned char *bytes = items;
    size_t kept = 1;
    for (size_t i = 1; i < count; i++) {
        if (compare(bytes + (kept - 1) * size, bytes + i * size) != 0) {
            if (kept != i) {
                memcpy(bytes + kept * size, bytes + i * size, size);
            }
            kept++;
        }
    }
    return kept;
}

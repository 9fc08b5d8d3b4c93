/* Unit tests for lib/src/sort.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/sort.h"

#include <stdint.h>

static int int64_compare(const void *left, const void *right)
{
    int64_t a = *(const int64_t *)left, b = *(const int64_t *)right;
    return (a > b) - (a < b);
}

static void test_repeats_are_dropped_and_the_rest_sorted(void **state)
{
    (void)state;
    int64_t items[] = {7, 3, 7, 1, 3, 3, 9, 1};
    size_t count = ss_sort_unique(items, 8, sizeof(items[0]), int64_compare);
    assert_int_equal(count, 4);
    assert_int_equal(items[0], 1);
    assert_int_equal(items[1], 3);
    assert_int_equal(items[2], 7);
    assert_int_equal(items[3], 9);
}

static void test_empty_and_single_arrays_are_left_alone(void **state)
{
    (void)state;
    int64_t one = 42;
    assert_int_equal(ss_sort_unique(NULL, 0, sizeof(one), int64_compare), 0);
    assert_int_equal(ss_sort_unique(&one, 1, sizeof(one), int64_compare), 1);
    assert_int_equal(one, 42);
}

static void test_all_equal_keeps_one(void **state)
{
    (void)state;
    int64_t items[] = {5, 5, 5, 5};
    assert_int_equal(ss_sort_unique(items, 4, sizeof(items[0]), int64_compare), 1);
    assert_int_equal(items[0], 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeats_are_dropped_and_the_rest_sorted),
        cmocka_unit_test(test_empty_and_single_arrays_are_left_alone),
        cmocka_unit_test(test_all_equal_keeps_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

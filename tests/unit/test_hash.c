/* Unit tests for lib/src/hash.c against the FIPS 180-2 test vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/hash.h"

#include <string.h>

static void test_sha256_of_empty_input_matches_the_standard(void **state)
{
    (void)state;
    char hex[SS_HASH_SHA256_HEX_SIZE];
    assert_int_equal(ss_hash_sha256_hex("", 0, hex, NULL, 0), SS_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_sha256_of_abc_matches_the_standard(void **state)
{
    (void)state;
    char hex[SS_HASH_SHA256_HEX_SIZE];
    assert_int_equal(ss_hash_sha256_hex("abc", 3, hex, NULL, 0), SS_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_different_bodies_hash_differently(void **state)
{
    (void)state;
    char first[SS_HASH_SHA256_HEX_SIZE], second[SS_HASH_SHA256_HEX_SIZE];
    ss_hash_sha256_hex("{\"amount\":1}", 12, first, NULL, 0);
    ss_hash_sha256_hex("{\"amount\":2}", 12, second, NULL, 0);
    assert_int_not_equal(strcmp(first, second), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_of_empty_input_matches_the_standard),
        cmocka_unit_test(test_sha256_of_abc_matches_the_standard),
        cmocka_unit_test(test_different_bodies_hash_differently),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Keeps the test support library non-empty while it has no other file. */
typedef int ss_test_support_empty_t;

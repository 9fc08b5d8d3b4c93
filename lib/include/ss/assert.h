/*
 * Always-on assertions for programmer errors and for the invariants money and stock depend on
 * (stock >= 0, balance <= limit, issued <= quantity). A failure logs the expression, file and
 * line, then aborts. Never use it on input from HTTP, Kafka, PostgreSQL or Redis: validate that.
 */
#ifndef SS_ASSERT_H
#define SS_ASSERT_H

void ss_assert_fail(const char *expression, const char *file, int line) __attribute__((noreturn));

#define SS_ASSERT(expression)                                                                      \
    do {                                                                                           \
        if (!(expression)) {                                                                       \
            ss_assert_fail(#expression, __FILE__, __LINE__);                                       \
        }                                                                                          \
    } while (0)

#endif

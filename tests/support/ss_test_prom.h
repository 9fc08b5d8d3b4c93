/*
 * Reading a Prometheus text exposition (format 0.0.4) in tests: a line-by-line grammar check
 * and the value of one sample, so unit and integration tests assert on what a scrape returns.
 */
#ifndef SS_TEST_PROM_H
#define SS_TEST_PROM_H

#include "ss/error.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * Checks every line of text: `# HELP name text`, `# TYPE name counter|gauge|histogram|summary|
 * untyped`, or a sample `name{label="value",...} number`, where names, label names, escapes
 * (\\ \" \n) and numbers (NaN, +Inf, -Inf, decimal or exponent) follow the format; a sample's
 * family must have been typed before it, and each family typed once. SS_ERR_INVALID with the
 * first bad line in errstr.
 */
ss_err_t ss_test_prom_check(const char *text, char *errstr, size_t errstr_size);

/*
 * The value of the sample named name whose labels include every `key="value"` of labels (a
 * comma-separated list such as `route="/orders",status="200"`, or "" for any), summed over
 * every such sample. *found says whether there was one. Label text is compared as written.
 */
double ss_test_prom_value(const char *text, const char *name, const char *labels, bool *found);

#endif

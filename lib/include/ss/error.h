/*
 * Error kinds shared by every module. Fallible functions return an ss_err_t (SS_OK is zero,
 * failures are negative) and write details into a caller-owned errstr buffer; the library
 * never prints. Callers decide between retrying and giving up with ss_err_is_retriable().
 */
#ifndef SS_ERROR_H
#define SS_ERROR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum ss_err {
    SS_OK = 0,
    SS_ERR_INVALID = -1,   /* bad input (request, record, config): retrying cannot help */
    SS_ERR_NOT_FOUND = -2, /* the thing asked for does not exist */
    SS_ERR_CONFLICT = -3,  /* a constraint or rule refuses (unique violation, fencing) */
    SS_ERR_RETRIABLE = -4, /* transient: connection lost, timeout, serialization failure */
    SS_ERR_TIMEOUT = -5,   /* a deadline passed; the outcome may be unknown */
    SS_ERR_NOMEM = -6,     /* allocation failed */
    SS_ERR_FATAL = -7,     /* a dependency or the program is broken: stop */
    SS_ERR_HELP = -8,      /* --help was asked for: print usage and exit 0 */
} ss_err_t;

/* A stable lower-case name for logs, e.g. "retriable". Never NULL. */
const char *ss_err_name(ss_err_t err);

/* True when the same call may succeed later without any change of input. */
bool ss_err_is_retriable(ss_err_t err);

/*
 * Formats into errstr (when errstr_size > 0) and returns err, so that a failing path reads
 * `return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "bad amount %ld", amount);`.
 */
ss_err_t ss_err_set(ss_err_t err, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif

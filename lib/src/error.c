/* Error kind names and the errstr formatting helper every module uses. */
#include "ss/error.h"

#include <stdarg.h>
#include <stdio.h>

const char *ss_err_name(ss_err_t err)
{
    switch (err) {
    case SS_OK:
        return "ok";
    case SS_ERR_INVALID:
        return "invalid";
    case SS_ERR_NOT_FOUND:
        return "not_found";
    case SS_ERR_CONFLICT:
        return "conflict";
    case SS_ERR_RETRIABLE:
        return "retriable";
    case SS_ERR_TIMEOUT:
        return "timeout";
    case SS_ERR_NOMEM:
        return "nomem";
    case SS_ERR_FATAL:
        return "fatal";
    case SS_ERR_HELP:
        return "help";
    }
    return "unknown";
}

bool ss_err_is_retriable(ss_err_t err)
{
    return err == SS_ERR_RETRIABLE || err == SS_ERR_TIMEOUT;
}

ss_err_t ss_err_set(ss_err_t err, char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr != NULL && errstr_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* The failure path of SS_ASSERT: one log line at error level, then abort for a core dump. */
#include "ss/assert.h"

#include "ss/log.h"

#include <stdlib.h>

void ss_assert_fail(const char *expression, const char *file, int line)
{
    ss_log_write(SS_LOG_LEVEL_ERROR, "assert", "assertion failed expression=\"%s\" file=%s line=%d",
                 expression, file, line);
    abort();
}

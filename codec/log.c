#include "codec/log.h"

#include <stdarg.h>
#include <stdio.h>

void nvc_log(nvc_log_callback cb, void *cookie, int level, const char *fmt, ...)
{
    if (!cb)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cb(cookie, level, line);
}

void nvc_log_stderr(void *cookie, int level, const char *message)
{
    (void)cookie;
    if (level <= NVC_LOG_WARNING) /* one fprintf per line: stdio locks the stream, lines do not interleave */
        fprintf(stderr, "nvc: %s%s\n", level == NVC_LOG_ERROR ? "error: " : "warning: ", message);
}

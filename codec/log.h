/* Messages to the application's logger (nvc_settings.logger); formatting is skipped when there is none. */
#ifndef NVC_CODEC_LOG_H
#define NVC_CODEC_LOG_H

#include "nvc/nvc.h"

void nvc_log(nvc_log_callback cb, void *cookie, int level, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The logger nvc_default_settings installs: errors and warnings to stderr, prefixed "nvc: ". */
void nvc_log_stderr(void *cookie, int level, const char *message);

#endif

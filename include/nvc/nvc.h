/* nvc: neural video codec -- public API.
 * Everything an application needs is declared here; nothing else under include/ is public. */
#ifndef NVC_NVC_H
#define NVC_NVC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Symbols of the public API are the only ones libnvc.so exports. */
#if defined(__GNUC__)
#define NVC_API __attribute__((visibility("default")))
#else
#define NVC_API
#endif

#define NVC_VERSION_MAJOR 0
#define NVC_VERSION_MINOR 1
#define NVC_VERSION_PATCH 0

/* Version string of the library actually linked, e.g. "0.1.0". */
NVC_API const char *nvc_version(void);

/* Error codes: every fallible function returns 0 on success or one of these (negative). */
enum nvc_error {
    NVC_OK = 0,
    NVC_EAGAIN = -1,      /* no output yet: send more data (decoder) / pictures (encoder) */
    NVC_EINVAL = -2,      /* invalid argument or setting */
    NVC_ENOMEM = -3,      /* allocation failed or a limit on memory would be exceeded */
    NVC_EINVALDATA = -4,  /* malformed, corrupt or truncated data */
    NVC_EUNSUPPORTED = -5,/* valid but unsupported: future version, unknown feature */
    NVC_EMODEL = -6,      /* model missing, invalid, or not the one the stream needs */
    NVC_EIO = -7,         /* read/write failure */
    NVC_EOF = -8,         /* end of stream: no more output will come */
};

/* A short English description of an error code (never NULL). */
NVC_API const char *nvc_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif

#include "nvc/nvc.h"

#define NVC_STR2(x) #x
#define NVC_STR(x) NVC_STR2(x)

const char *nvc_version(void)
{
    return NVC_STR(NVC_VERSION_MAJOR) "." NVC_STR(NVC_VERSION_MINOR) "." NVC_STR(NVC_VERSION_PATCH);
}

const char *nvc_strerror(int err)
{
    switch (err) {
    case NVC_OK: return "success";
    case NVC_EAGAIN: return "resource temporarily unavailable (send more input)";
    case NVC_EINVAL: return "invalid argument";
    case NVC_ENOMEM: return "out of memory or over a memory limit";
    case NVC_EINVALDATA: return "invalid or corrupt data";
    case NVC_EUNSUPPORTED: return "unsupported feature or version";
    case NVC_EMODEL: return "model missing, invalid or not the one the stream needs";
    case NVC_EIO: return "input/output error";
    case NVC_EOF: return "end of stream";
    default: return "unknown error";
    }
}

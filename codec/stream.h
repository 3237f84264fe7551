/* The .nvc stream format (specified in docs/bitstream.md): parser, file reader and writer.
 *
 * Three users, three layers:
 *  - the library decoder feeds bytes from memory (dav1d_send_data style): nvc_stream_parse_header() and
 *    nvc_stream_parse_frame() work on a byte buffer, say NVC_EAGAIN with the number of bytes they need when the
 *    buffer is short, and return frame headers whose substream payloads point into that buffer;
 *  - tools read a FILE* or a path (stdin works; seeking needs a seekable file and uses the I-frame index);
 *  - the encoder writes a header, frames, and at close the index and trailer, into a temporary file that is
 *    renamed to the final name only when everything was written.
 * Every function validates every field against the bytes that remain and against the limits below; malformed
 * input gives NVC_EINVALDATA (NVC_EUNSUPPORTED for a newer major version or unknown feature) and a message. */
#ifndef NVC_CODEC_STREAM_H
#define NVC_CODEC_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nvc/nvc.h"

/* Format version this code writes; it reads every 2.x and 3.x (unknown trailing header bytes of a later minor
 * version are skipped) and rejects other majors with NVC_EUNSUPPORTED. 2.1 defines the P-frame flags below;
 * 2.2 starts every non-empty substream with its rANS lane count (entropy/rans.h); 2.3 defines the flags
 * NVC_FRAME_MV_CONTEXT and NVC_FRAME_MEANS_CONTEXT; 2.x headers keep the 2.0 layout. 3.0 is 2.3 with compact
 * frame headers (varint sizes, no payload size, no substreams for a left-out segment, a payload CRC only with a
 * payload; docs/bitstream.md). 3.1 defines the flags NVC_FRAME_SCALE_SHIFT and
 * NVC_FRAME_FITTED_TABLES. */
#define NVC_STREAM_VERSION_MAJOR 3
#define NVC_STREAM_VERSION_MINOR 1

/* Limits (docs/bitstream.md, "Limits"). */
#define NVC_STREAM_MAX_DIM 8192                   /* width, height */
#define NVC_STREAM_MAX_PIXELS (8192u * 4352u)     /* width * height */
#define NVC_STREAM_MAX_SEGMENTS 8                 /* latent segments per frame */
#define NVC_STREAM_MAX_SUBSTREAMS_PER_SEGMENT 1024
#define NVC_STREAM_MAX_SUBSTREAMS 2048            /* per frame, all segments together */
#define NVC_STREAM_MAX_FRAME_BYTES (64u << 20)    /* payload bytes of one frame */
#define NVC_STREAM_MAX_QUALITY 63
#define NVC_STREAM_MAX_INDEX_ENTRIES (1u << 22)
#define NVC_STREAM_MAX_HEADER_SIZE 4096           /* file header, including later-minor extensions */
#define NVC_STREAM_FRAME_COUNT_UNKNOWN 0xFFFFFFFFu
#define NVC_STREAM_MODEL_NAME_LEN 16

/* Fixed sizes of version 1.0 structures, in bytes. */
#define NVC_STREAM_HEADER_SIZE 64
#define NVC_STREAM_FRAME_FIXED_SIZE 26            /* frame header without the segment and size tables */
#define NVC_STREAM_FRAME_MAX_HEADER_SIZE                                                                    \
    (NVC_STREAM_FRAME_FIXED_SIZE + 2 * NVC_STREAM_MAX_SEGMENTS + 4 * NVC_STREAM_MAX_SUBSTREAMS)
#define NVC_STREAM_TRAILER_SIZE 16
#define NVC_STREAM_INDEX_ENTRY_SIZE 12

enum nvc_frame_type { NVC_FRAME_I = 0, NVC_FRAME_P = 1 };

/* Frame header flags (P-frames only, format 2.1). A flagged-off latent is not coded: its two segments have one
 * substream of 0 bytes each. Both flags together: the frame repeats the previous reconstruction. */
enum nvc_frame_flag {
    NVC_FRAME_NO_MOTION = 1,   /* the prediction is the previous reconstruction, unwarped */
    NVC_FRAME_NO_RESIDUAL = 2, /* the reconstruction is the prediction */
    NVC_FRAME_MV_CONTEXT = 4,  /* format 2.3: the motion vectors are context-coded (entropy/ctxplane.h) in segment 1,
                                * segment 0 (the motion hyper-latent) is empty; not with NVC_FRAME_NO_MOTION */
    NVC_FRAME_MEANS_CONTEXT = 8, /* format 2.3, I-frames: some channels of the latent's first slice (the block
                                  * means) are context-coded in a third segment */
    NVC_FRAME_SCALE_SHIFT = 16,  /* format 3.1: the table indices of the I latent (I-frames) or of the residual
                                  * latent (P-frames; not with NVC_FRAME_NO_RESIDUAL) are shifted per group of
                                  * channels by the frame's last segment (codec/scale_shift.h) */
    NVC_FRAME_FITTED_TABLES = 32, /* format 3.1: the I latent (I-frames) or the residual latent (P-frames; not with
                                   * NVC_FRAME_NO_RESIDUAL) is coded with the format's fitted table set for it
                                   * (entropy/fitted_cdf.h) instead of the Gaussian set */
};
#define NVC_FRAME_FLAGS_DEFINED 63u  /* in 3.1 */
#define NVC_FRAME_FLAGS_DEFINED_2_3 15u /* in 2.3 and 3.0 */
#define NVC_FRAME_FLAGS_I (NVC_FRAME_MEANS_CONTEXT | NVC_FRAME_SCALE_SHIFT | NVC_FRAME_FITTED_TABLES) /* an I-frame's */
#define NVC_FRAME_FLAGS_P                                                                                    \
    (NVC_FRAME_NO_MOTION | NVC_FRAME_NO_RESIDUAL | NVC_FRAME_MV_CONTEXT | NVC_FRAME_SCALE_SHIFT |            \
     NVC_FRAME_FITTED_TABLES) /* a P-frame's */
#define NVC_FRAME_FLAGS_DEFINED_2_1 3u /* in 2.1 and 2.2 (2.0 defines none) */

typedef struct nvc_stream_header {
    uint16_t version_major, version_minor; /* set by the parser; the writer writes these when they are an
                                            * earlier 2.x or 3.x, else its own version */
    uint16_t header_size;                  /* set by the parser: bytes the file header occupies */
    uint16_t width, height;                /* even, 2..NVC_STREAM_MAX_DIM, width*height <= NVC_STREAM_MAX_PIXELS */
    uint32_t fps_num, fps_den;             /* frame rate fps_num/fps_den, both 1..1000000 */
    uint8_t colour_primaries;              /* ITU-T H.273 ColourPrimaries (1 BT.709, 2 unspecified, ...) */
    uint8_t transfer;                      /* H.273 TransferCharacteristics */
    uint8_t matrix;                        /* H.273 MatrixCoefficients */
    uint8_t full_range;                    /* H.273 VideoFullRangeFlag: 0 limited ("TV"), 1 full */
    uint8_t chroma_format;                 /* 1 = 4:2:0 (the only one in version 1) */
    uint8_t bit_depth;                     /* 8 (the only one in version 1) */
    uint16_t gop_length;                   /* frames from one I-frame to the next; 0 = not fixed */
    uint32_t frame_count;                  /* NVC_STREAM_FRAME_COUNT_UNKNOWN when not known */
    uint32_t model_id;                     /* the model (.nvm) the stream needs */
    char model_name[NVC_STREAM_MODEL_NAME_LEN + 1]; /* printable ASCII, NUL-terminated here */
} nvc_stream_header;

/* A parsed frame header. Substream k (0 <= k < total_substreams, segment by segment) occupies
 * payload[substream_offset[k] .. + substream_size[k]). About 16 KiB: allocate it, don't put it on a thread's
 * stack in a deep call chain. */
typedef struct nvc_frame_info {
    uint32_t frame_number;  /* display index (presentation time in 1/fps units) */
    uint8_t type;           /* enum nvc_frame_type */
    uint8_t quality;        /* 0..NVC_STREAM_MAX_QUALITY */
    uint8_t flags;          /* enum nvc_frame_flag bits; 0 for I-frames */
    uint8_t lanes_signalled; /* substreams start with their lane count (format 2.2 on; set by the parser) */
    uint32_t nsegments;     /* 1..NVC_STREAM_MAX_SEGMENTS */
    uint32_t nsubstreams[NVC_STREAM_MAX_SEGMENTS];     /* per segment, 1..NVC_STREAM_MAX_SUBSTREAMS_PER_SEGMENT */
    uint32_t first_substream[NVC_STREAM_MAX_SEGMENTS]; /* index of each segment's first substream */
    uint32_t total_substreams;
    uint32_t substream_size[NVC_STREAM_MAX_SUBSTREAMS];
    uint32_t substream_offset[NVC_STREAM_MAX_SUBSTREAMS]; /* from the start of the payload */
    uint32_t header_size;   /* bytes of the frame header (sync marker to header CRC) */
    uint32_t payload_size;  /* bytes of all substreams */
    uint32_t payload_crc;
    const uint8_t *payload; /* set by parsers: points into the caller's (or the file reader's) buffer */
} nvc_frame_info;

/* Substream `i` of segment `seg`; NULL if out of range. */
const uint8_t *nvc_frame_substream(const nvc_frame_info *f, unsigned seg, unsigned i, uint32_t *size);

/* ---- parsing from memory ---- */

typedef struct nvc_stream_parser {
    nvc_stream_header header;
    int have_header;
    int have_frame;              /* frame numbers must increase: last_frame_number is valid */
    uint32_t last_frame_number;
    char error[192];             /* message of the last error, "" if none */
} nvc_stream_parser;

void nvc_stream_parser_init(nvc_stream_parser *p);

/* Forget frame-number continuity (after a seek or a resynchronisation). */
void nvc_stream_parser_reset_frames(nvc_stream_parser *p);

/* Parses the file header at buf. 0: done, *used = bytes consumed. NVC_EAGAIN: buf is too short, *used = the
 * number of bytes needed in total. NVC_EINVALDATA / NVC_EUNSUPPORTED: error, message in p->error. */
int nvc_stream_parse_header(nvc_stream_parser *p, const uint8_t *buf, size_t len, size_t *used);

/* Parses the frame starting at buf (header and payload, both CRC-checked) into *f, whose payload points into
 * buf. 0: done, *used = bytes consumed. NVC_EAGAIN: *used = bytes needed in total. NVC_EOF: buf starts the
 * index, so no frames follow (*used = 0). NVC_EINVALDATA: damaged frame (see nvc_stream_find_sync).
 * Needs a parsed header (NVC_EINVAL otherwise). At the real end of the input, 0 bytes left is a clean end
 * of a stream without index; leftover bytes mean it was truncated. */
int nvc_stream_parse_frame(nvc_stream_parser *p, const uint8_t *buf, size_t len, size_t *used, nvc_frame_info *f);

/* Only the frame header at buf (checked, CRC included), for readers that skip payloads: 0, or NVC_EAGAIN with
 * *need = bytes needed, or NVC_EINVALDATA / NVC_EUNSUPPORTED. f->payload is left NULL. */
int nvc_stream_parse_frame_header(nvc_stream_parser *p, const uint8_t *buf, size_t len, size_t *need,
                                  nvc_frame_info *f);

/* Resynchronisation after damage: looks for the first frame whose header (sync marker, fields, header CRC) is
 * valid, starting at buf[0] (pass the bytes after the first byte of the damaged frame). 0: found at *offset.
 * NVC_EAGAIN: not yet; buf[0 .. *offset) can be dropped, search again from there with more bytes. At the end
 * of the input there are no more bytes: a candidate at *offset that needs them is no frame, so continue the
 * search from *offset + 1. The payload is not checked here: nvc_stream_parse_frame does that. */
int nvc_stream_find_sync(nvc_stream_parser *p, const uint8_t *buf, size_t len, size_t *offset);

/* I-frame index: frame numbers and byte offsets (from the start of the file) of the I-frames. */
typedef struct nvc_stream_index_entry {
    uint32_t frame_number;
    uint64_t offset;
} nvc_stream_index_entry;

typedef struct nvc_stream_index {
    uint32_t count;
    nvc_stream_index_entry *entries; /* malloc'ed; free with nvc_stream_index_free */
} nvc_stream_index;

void nvc_stream_index_free(nvc_stream_index *idx);

/* The 16-byte trailer at the very end of a finished file: *index_offset = where the index chunk starts. */
int nvc_stream_parse_trailer(nvc_stream_parser *p, const uint8_t trailer[NVC_STREAM_TRAILER_SIZE],
                             uint64_t *index_offset);

/* Parses an index chunk at buf, which the caller read from `index_offset` of the file (used to check the
 * entries: strictly increasing, before the index). 0: done, *used = bytes of the chunk. NVC_EAGAIN: *used =
 * bytes needed. NVC_ENOMEM: allocation failed. */
int nvc_stream_parse_index(nvc_stream_parser *p, const uint8_t *buf, size_t len, uint64_t index_offset,
                           size_t *used, nvc_stream_index *idx);

/* ---- serialisation into memory (the writer and tests use these) ---- */

/* Validates h (0 or NVC_EINVAL with a message in msg, which may be NULL) and writes the 64-byte header. */
int nvc_stream_write_header(const nvc_stream_header *h, uint8_t out[NVC_STREAM_HEADER_SIZE], char *msg,
                            size_t msg_size);

/* Validates f's type, quality, flags, frame number, segment counts and substream sizes, computes the offsets,
 * payload size and header size into *f, and writes the frame header for payload CRC `payload_crc` into out
 * (capacity NVC_STREAM_FRAME_MAX_HEADER_SIZE suffices) in the layout of h's version (NULL: this code's version;
 * 2.x: the fixed-width layout, 3.x: the compact one). 0 or NVC_EINVAL. */
int nvc_stream_write_frame_header(const nvc_stream_header *h, nvc_frame_info *f, uint32_t payload_crc,
                                  uint8_t *out, size_t cap, size_t *len, char *msg, size_t msg_size);

/* Bytes of an index chunk of `count` entries plus the trailer, and their serialisation (writer). */
size_t nvc_stream_index_bytes(uint32_t count);
void nvc_stream_write_index(const nvc_stream_index *idx, uint64_t index_offset, uint8_t *out);

/* ---- reading files (tools) ---- */

typedef struct nvc_stream_file nvc_stream_file;

/* Opens path ("-" = stdin) and parses its header. On error returns the code and, when `msg` is non-NULL,
 * a message there; *out is NULL. */
int nvc_stream_file_open(nvc_stream_file **out, const char *path, char *msg, size_t msg_size);
/* Same on an open FILE* (not closed by nvc_stream_file_close), read from its current position: offsets (frames,
 * index, seeking) count from there, so a stream may be embedded in a larger file. */
int nvc_stream_file_open_fp(nvc_stream_file **out, FILE *fp, char *msg, size_t msg_size);
void nvc_stream_file_close(nvc_stream_file *sf);

const nvc_stream_header *nvc_stream_file_header(const nvc_stream_file *sf);
const char *nvc_stream_file_error(const nvc_stream_file *sf); /* message of the last error */

/* Next frame into *f (payload valid until the next call). *offset (may be NULL) = the frame's byte offset.
 * NVC_EOF at the end (index reached, or end of input at a frame boundary). NVC_EINVALDATA for a damaged or
 * truncated frame: call nvc_stream_file_resync to continue with the next good frame. */
int nvc_stream_file_next_frame(nvc_stream_file *sf, nvc_frame_info *f, uint64_t *offset);

/* Skips to the next frame whose header is intact (0), or NVC_EOF if none. *skipped = bytes skipped. */
int nvc_stream_file_resync(nvc_stream_file *sf, uint64_t *skipped);

/* The I-frame index of a seekable file: from the trailer when the file has one, otherwise built by scanning
 * the frame headers (*from_trailer says which). NVC_EUNSUPPORTED when the input cannot seek. The index stays
 * owned by sf. Leaves the read position unchanged. */
int nvc_stream_file_index(nvc_stream_file *sf, const nvc_stream_index **idx, int *from_trailer);

/* Positions the reader at the last I-frame with frame number <= frame_number; *iframe receives its number.
 * NVC_EINVAL if frame_number precedes the first I-frame. */
int nvc_stream_file_seek(nvc_stream_file *sf, uint32_t frame_number, uint32_t *iframe);

/* ---- writing (encoder) ---- */

typedef struct nvc_stream_writer nvc_stream_writer;

/* Creates a temporary file beside `path` and writes the header; the frame count is filled in at close.
 * path "-" writes to stdout (no temporary, no rename, frame count left as given). */
int nvc_stream_writer_open(nvc_stream_writer **out, const char *path, const nvc_stream_header *h, char *msg,
                           size_t msg_size);

/* Appends a frame: f gives type, quality, frame_number, nsegments, nsubstreams[], substream_size[];
 * data[k] points at substream k's bytes (may be NULL when its size is 0). The first frame must be an I-frame,
 * frame numbers must increase. */
int nvc_stream_writer_frame(nvc_stream_writer *w, nvc_frame_info *f, const uint8_t *const *data);

/* Writes the index and trailer, completes the header, flushes, and renames the temporary file to the final
 * path. Frees w whatever the outcome; on failure the temporary file is removed and the message is in msg. */
int nvc_stream_writer_close(nvc_stream_writer *w, char *msg, size_t msg_size);

/* Gives up: removes the temporary file and frees w. */
void nvc_stream_writer_abort(nvc_stream_writer *w);

const char *nvc_stream_writer_error(const nvc_stream_writer *w);

#endif

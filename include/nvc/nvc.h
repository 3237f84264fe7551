/* nvc: neural video codec -- public API.
 * Everything an application needs is declared here; nothing else under include/ is public.
 *
 * Overview
 * --------
 *   Decoder   nvc_open -> nvc_send_data / nvc_get_picture (loop) -> nvc_close. Feeds on the bytes of a .nvc
 *             stream (docs/bitstream.md) in any chunking, returns pictures in display order.
 *   Reader    nvc_reader_open -> nvc_reader_read_frame / nvc_reader_seek: a small demuxer for .nvc files, so an
 *             application can cut a stream into frames and seek (I-frame index) without internal headers.
 *   Encoder   nvc_enc_open -> nvc_enc_send_picture / nvc_enc_receive_packet -> nvc_enc_close; packets are
 *             written with nvc_writer_open / nvc_writer_write / nvc_writer_close (index, trailer, atomic rename).
 *
 * A decode loop (error handling shortened; tools/nvc_example.c is the complete program):
 *
 *     nvc_reader *rd;  nvc_context *dec;  nvc_settings s;  nvc_packet pkt;  nvc_picture pic;
 *     nvc_reader_open(&rd, "in.nvc");
 *     nvc_default_settings(&s);
 *     nvc_open(&dec, &s);
 *     nvc_send_data(dec, hdr, hdr_size, NULL);           // hdr from nvc_reader_header()
 *     while (nvc_reader_read_frame(rd, &pkt) == 0) {
 *         size_t done = 0, n;
 *         while (done < pkt.size) {
 *             int r = nvc_send_data(dec, pkt.data + done, pkt.size - done, &n);   // r: 0 or NVC_EAGAIN
 *             done += n;
 *             while (nvc_get_picture(dec, &pic) == 0) { use(&pic); nvc_picture_unref(&pic); }
 *         }
 *     }
 *     nvc_send_data(dec, NULL, 0, NULL);                  // end of input: drain
 *     while ((r = nvc_get_picture(dec, &pic)) != NVC_EOF) { if (r == 0) { use(&pic); nvc_picture_unref(&pic); } }
 *     nvc_close(&dec);  nvc_reader_close(&rd);
 *
 * Threads and reentrancy
 * ----------------------
 * The library has no global state: any number of decoders, readers, encoders and writers can live in one
 * process, each used by any thread. One object must not be used by two threads at the same time (the caller
 * serialises calls on it); distinct objects need no locking. Pictures are the exception: a picture may be
 * unreferenced from any thread, at any time, even after its decoder was closed.
 *
 * Which thread runs what: with n_threads == 1 all work of a decoder happens inside nvc_send_data() and
 * nvc_get_picture(), on the calling thread. With n_threads > 1, nvc_open() starts the decoder's worker
 * threads; nvc_send_data() only parses frame boundaries and hands frames over, and the workers decode
 * (entropy decoding of frame t+1 overlapping the network of frame t, substreams spread over the threads);
 * nvc_get_picture() waits, when it must, only for the oldest frame in flight. nvc_close() stops and joins the workers. The encoder follows the same rules. The logger
 * callback may be called from any of these threads (see nvc_settings.logger).
 *
 * Buffers and ownership
 * ---------------------
 * - nvc_send_data() copies what it consumes: the caller's buffer is free again when the call returns.
 * - nvc_get_picture() hands the caller one reference to a picture allocated by the library; the caller
 *   releases it with nvc_picture_unref(). Plane memory is read-only for the caller.
 * - nvc_reader_read_frame() and nvc_enc_receive_packet() return packets whose bytes stay owned by the
 *   reader / encoder and are valid until the next call on that object (or its close).
 * - nvc_enc_send_picture() copies the picture: the caller's planes are free again when the call returns.
 * - Strings returned by nvc_strerror/nvc_version are static; those of nvc_get_error, nvc_reader_error and
 *   nvc_writer_error belong to the object and are valid until its next call.
 *
 * Errors
 * ------
 * Every fallible function returns 0 or a negative enum nvc_error code. Objects keep a message describing the
 * last error in detail (nvc_get_error, nvc_reader_error, ...). Wrong input never crashes, hangs or makes the
 * library allocate without bound: it gives NVC_EINVALDATA (damaged data), NVC_EUNSUPPORTED (a stream of a
 * later format version) or NVC_EMODEL (the stream needs a model other than the one loaded).
 */
#ifndef NVC_NVC_H
#define NVC_NVC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* ==== Common types ==== */

enum nvc_log_level { NVC_LOG_ERROR = 0, NVC_LOG_WARNING = 1, NVC_LOG_INFO = 2, NVC_LOG_DEBUG = 3 };

/* Receives the library's messages (one line, no trailing newline). May be called from the library's worker
 * threads, concurrently for different objects: it must be thread-safe. */
typedef void (*nvc_log_callback)(void *cookie, int level, const char *message);

/* Frame types. An I-frame is decoded on its own; a P-frame needs the previous picture. */
enum nvc_picture_type { NVC_PICTURE_I = 0, NVC_PICTURE_P = 1 };

/* What a stream's file header says. Colour fields use the ITU-T H.273 code points (the numbering of
 * FFmpeg's AVColorPrimaries / AVColorTransferCharacteristic / AVColorSpace). */
typedef struct nvc_stream_info {
    int width, height;            /* luma size in pixels, even numbers; chroma is width/2 x height/2 (4:2:0) */
    unsigned fps_num, fps_den;    /* frame rate fps_num / fps_den; pts unit is fps_den / fps_num seconds */
    int colour_primaries;         /* H.273 ColourPrimaries: 1 BT.709, 2 unspecified, ... */
    int transfer;                 /* H.273 TransferCharacteristics */
    int matrix;                   /* H.273 MatrixCoefficients */
    int full_range;               /* 0 limited ("TV", 16..235), 1 full (0..255) */
    int bit_depth;                /* 8 */
    int gop_length;               /* frames from one I-frame to the next; 0 = not fixed */
    int64_t frame_count;          /* frames in the stream, -1 when unknown (e.g. written to a pipe) */
    uint32_t model_id;            /* the model the stream needs */
    char model_name[17];          /* its name, printable ASCII */
    int version_major, version_minor; /* format version of the stream */
} nvc_stream_info;

/* A picture: YUV 4:2:0, 8 bits. Decoder output (library-allocated, reference-counted) or encoder input
 * (caller-allocated: fill data/stride/width/height, the rest is ignored). */
typedef struct nvc_picture {
    uint8_t *data[3];             /* Y, U (Cb), V (Cr) planes */
    ptrdiff_t stride[3];          /* bytes from one row to the next of each plane */
    int width, height;            /* luma size; chroma planes are width/2 x height/2 */
    int64_t pts;                  /* presentation time in units of fps_den/fps_num s (= frame number) */
    uint32_t frame_number;        /* display index from the stream (0 = first frame) */
    int frame_type;               /* enum nvc_picture_type */
    int quality;                  /* the frame's quality parameter, 0..63 */
    int damaged;                  /* nonzero when data before this picture was lost to damage: the decoder
                                   * dropped frames (see frame_number for how many) and resumed here. The
                                   * picture itself is always decoded exactly: the decoder never outputs a
                                   * picture built from damaged data or on a missing reference. */
    size_t compressed_size;       /* bytes of the frame in the stream (header and payload) */
    int64_t decode_time_us;       /* time the library spent decoding this frame, summed over its threads */
    void *priv;                   /* library-owned reference; NULL for caller-allocated pictures */
} nvc_picture;

/* Releases the caller's reference to a decoded picture and clears *pic. Safe on a cleared picture, from any
 * thread, after the decoder was closed. */
NVC_API void nvc_picture_unref(nvc_picture *pic);

/* One coded frame: exactly the bytes of one frame of a .nvc stream (frame header and payload). */
typedef struct nvc_packet {
    const uint8_t *data;
    size_t size;
    uint32_t frame_number;
    int frame_type;               /* enum nvc_picture_type */
    int64_t offset;               /* byte offset of the frame in its file (reader), -1 when not known */
} nvc_packet;

/* ==== Decoder ==== */

typedef struct nvc_context nvc_context;

typedef struct nvc_settings {
    int n_threads;                /* worker threads; 0 = one per CPU (at most 16); 1 = no threads, all work
                                   * on the caller's thread */
    int max_frame_delay;          /* most frames in flight between nvc_send_data and nvc_get_picture; 0 =
                                   * automatic (2 with threads: overlap of entropy decoding and network,
                                   * 1 without); 1 = lowest latency and memory. Memory use is bounded by it. */
    const void *model_data;       /* a .nvm model file in memory (the caller keeps it alive until nvc_close),
                                   * or NULL for the model embedded in the library */
    size_t model_size;
    nvc_log_callback logger;      /* NULL = silent; nvc_default_settings sets one that prints errors and
                                   * warnings to stderr */
    void *logger_cookie;
    int reserved[16];             /* zero; lets later versions add settings without breaking the ABI */
} nvc_settings;

/* Fills *s with the defaults: automatic threads and frame delay, embedded model, stderr logger. */
NVC_API void nvc_default_settings(nvc_settings *s);

/* Creates a decoder. NVC_EMODEL when the model is missing or invalid, NVC_EINVAL for bad settings. */
NVC_API int nvc_open(nvc_context **out, const nvc_settings *s);

/* Feeds stream bytes: first the file header, then frames, in chunks of any size (a chunk may end in the
 * middle of a frame). *consumed (may be NULL) = bytes taken. Returns
 *   0               all `size` bytes were taken;
 *   NVC_EAGAIN      the decoder holds max_frame_delay frames: *consumed may be less than size; get pictures
 *                   with nvc_get_picture, then send the rest (bytes not consumed must be sent again);
 *   NVC_EMODEL      the stream needs another model (message: which one) -- fatal, as are:
 *   NVC_EUNSUPPORTED the stream is of a later format version;
 *   NVC_EINVALDATA  the file header is not a .nvc header.
 * Damage inside frames is not reported here but by nvc_get_picture, in display order.
 * data == NULL (size 0) signals the end of the input: nvc_get_picture then drains the remaining pictures. */
NVC_API int nvc_send_data(nvc_context *c, const uint8_t *data, size_t size, size_t *consumed);

/* Returns the next picture in display order (the caller owns one reference: nvc_picture_unref). Returns
 *   0               *pic is a picture;
 *   NVC_EAGAIN      the decoder needs more data before the next picture can be made: it holds fewer than
 *                   max_frame_delay frames and the end of input was not signalled. Otherwise (the queue
 *                   is full, or the input ended) the call waits for the oldest frame to finish decoding, so
 *                   an application never needs to poll;
 *   NVC_EOF         the end of the input was signalled and every picture has been returned;
 *   NVC_EINVALDATA  a frame was damaged (message in nvc_get_error). The decoder has already dropped it and
 *                   resynchronises by itself: it skips to the next intact I-frame (frames between are
 *                   dropped) and goes on. Just call nvc_get_picture again; the next picture has damaged=1.
 *   NVC_EMODEL / NVC_EUNSUPPORTED / NVC_ENOMEM: fatal, every later call returns the same. */
NVC_API int nvc_get_picture(nvc_context *c, nvc_picture *pic);

/* Stream information, available once the file header has been sent (NVC_EAGAIN before). */
NVC_API int nvc_get_stream_info(const nvc_context *c, nvc_stream_info *info);

/* Drops every buffered byte, frame and undelivered picture (for seeking); keeps the stream header and the
 * model. The next data must start at a frame boundary -- an I-frame for a picture to come out right away:
 * the byte offsets of the I-frames are in the stream's index, which nvc_reader_seek() uses (packets from
 * the reader always start at a frame boundary). If it starts elsewhere, the decoder skips to the next frame
 * sync marker, and P-frames before the first I-frame are dropped without an error. Also clears the end of
 * input, so a stream can be decoded again. */
NVC_API void nvc_flush(nvc_context *c);

/* Detailed message of the last error of this decoder ("" when none). */
NVC_API const char *nvc_get_error(const nvc_context *c);

/* Stops the worker threads and frees the decoder; *c = NULL. Pictures still referenced stay valid. */
NVC_API void nvc_close(nvc_context **c);

/* ==== Reader: a .nvc demuxer ==== */

typedef struct nvc_reader nvc_reader;

/* Opens a .nvc file (path "-" = standard input) and parses its header. On failure *out = NULL and the
 * message, if `msg` is non-NULL, is written there (NVC_EIO: cannot open/read; NVC_EINVALDATA: not a .nvc
 * stream; NVC_EUNSUPPORTED: later format version). */
NVC_API int nvc_reader_open(nvc_reader **out, const char *path, char *msg, size_t msg_size);
/* Same on an open stream positioned at the start of the .nvc data; fp is not closed by nvc_reader_close. */
NVC_API int nvc_reader_open_file(nvc_reader **out, FILE *fp, char *msg, size_t msg_size);
NVC_API void nvc_reader_close(nvc_reader **r);

NVC_API void nvc_reader_info(const nvc_reader *r, nvc_stream_info *info);

/* The bytes of the file header, to send to a decoder before any frame (owned by the reader). */
NVC_API void nvc_reader_header(const nvc_reader *r, const uint8_t **data, size_t *size);

/* The next frame. NVC_EOF at the end of the stream. NVC_EINVALDATA: the frame was damaged or truncated
 * (message in nvc_reader_error); the next call continues with the next intact frame (the reader searches
 * the frame sync markers). The decoder gets nothing of the damaged frame; since the frames after it may
 * refer to it, tell the decoder about the gap: nvc_send_data(NULL) (end of input), take the pictures still in
 * flight until NVC_EOF, nvc_flush, and go on sending -- the decoder then resumes at the next I-frame.
 * NVC_EIO: read error. */
NVC_API int nvc_reader_read_frame(nvc_reader *r, nvc_packet *pkt);

/* Positions the reader so that the next frame read is the last I-frame whose number is <= frame_number
 * (*iframe, may be NULL, receives its number). Uses the stream's index, or builds one by scanning the file
 * when the stream has none (once). NVC_EUNSUPPORTED when the input cannot seek (a pipe); NVC_EINVAL when
 * frame_number precedes the first I-frame. After a seek, call nvc_flush on the decoder. */
NVC_API int nvc_reader_seek(nvc_reader *r, uint32_t frame_number, uint32_t *iframe);

/* The frame numbers of all I-frames, increasing (*numbers owned by the reader, valid until close), e.g. for
 * "next/previous I-frame" navigation. Same sources and errors as nvc_reader_seek. Keeps the read position. */
NVC_API int nvc_reader_keyframes(nvc_reader *r, const uint32_t **numbers, size_t *count);

NVC_API const char *nvc_reader_error(const nvc_reader *r);

/* ==== Encoder ==== */

typedef struct nvc_encoder nvc_encoder;

typedef struct nvc_enc_settings {
    int width, height;            /* even, 2..8192 */
    unsigned fps_num, fps_den;    /* frame rate; default 25/1 */
    int colour_primaries, transfer, matrix, full_range; /* H.273 code points; default BT.709, limited */
    int quality;                  /* 0 (smallest) .. 63 (best); default 32 */
    int gop_length;               /* at most gop_length frames from one I-frame to the next (1 = all I, 0 = only
                                   * the first); default 32 */
    int fixed_gop;                /* 0 (default): a frame due to be a P-frame is coded as an I-frame instead when
                                   * that costs less in the model's rate-distortion measure (bits + lambda(q) x
                                   * squared error; the encoder codes it both ways), and the GOP restarts there;
                                   * 1: an I-frame exactly every gop_length frames */
    int full_p_frames;            /* 0 (default): each P-frame also tries leaving out its motion (prediction =
                                   * the previous picture), its residual (picture = prediction) or both (a repeat
                                   * of the previous picture), and keeps the cheapest in the same measure;
                                   * 1: every P-frame codes motion and residual */
    int i_quality_offset;         /* I-frames are coded at quality + this (clamped to 0..63): a better
                                   * I-frame is a better reference for the P-frames after it; default 45 */
    int substreams;               /* independent entropy substreams per latent, which bound the decoder's
                                   * entropy parallelism; 0 = automatic: from the size, and fewer where
                                   * each would carry less than 4 KiB (each costs ~33 bytes) */
    int n_threads;                /* as nvc_settings.n_threads */
    const void *model_data;       /* .nvm in memory (kept alive by the caller until close), NULL = embedded */
    size_t model_size;
    nvc_log_callback logger;      /* as nvc_settings.logger */
    void *logger_cookie;
    int entropy_lanes;            /* rANS lanes per substream (format 2.2): 0 (default) = the encoder's choice, as
                                   * few as keep the substream fast to decode (docs/entropy.md); 1..32 = this many
                                   * (fewer where a substream's runs are shorter): more lanes decode faster, each
                                   * costs ~3 bytes */
    int key_refine_frames;        /* the first this many P-frames after each I-frame are coded at the I-frame's
                                   * quality (quality + i_quality_offset, clamped): they refine the picture the
                                   * rest of the GOP predicts from beyond what one I-frame of the model reaches
                                   * (its best is quality 63), where that costs less over the GOP (the
                                   * still part's distortion counted for every frame that copies it);
                                   * 0 (default) = none: it helps a still camera with motion in the picture
                                   * and costs where the key pictures are most of the stream (docs/codec.md) */
    int plain_rounding;           /* 0 (default): the I and residual latents get rate-distortion optimised
                                   * quantisation where the model has a synthesis basis (a value moves toward its
                                   * mean where the bits it saves are worth more than the error it adds, in the
                                   * model's measure: codec/rdoq.h); 1: every value is the analysis rounded to the
                                   * nearest integer */
    int gaussian_tables;          /* 0 (default): the I and residual latents are coded with format 3.1's fitted
                                   * table sets; 1: with the Gaussian set, as before 3.1 (what
                                   * tools/train/fit_tables.sh measures to fit the sets) */
    int reserved[9];
} nvc_enc_settings;

/* Fills *s with the defaults (width/height 0: the caller must set them). */
NVC_API void nvc_enc_default_settings(nvc_enc_settings *s);

NVC_API int nvc_enc_open(nvc_encoder **out, const nvc_enc_settings *s);

/* The stream information the encoder writes (frame_count -1 until the end): what nvc_writer_open takes. */
NVC_API void nvc_enc_get_info(const nvc_encoder *e, nvc_stream_info *info);

/* Sends the next picture in display order (copied; only data, stride, width and height are read; the size
 * must equal the settings'). NULL = end of input: flush. NVC_EAGAIN: receive packets first, then send the
 * same picture again. */
NVC_API int nvc_enc_send_picture(nvc_encoder *e, const nvc_picture *pic);

/* The next coded frame (bytes owned by the encoder, valid until its next call). NVC_EAGAIN: send more
 * pictures; NVC_EOF: flushed and all packets returned. If `recon` is non-NULL it receives the encoder's
 * reconstruction of that frame, which is bit-exact what a decoder outputs (release with nvc_picture_unref). */
NVC_API int nvc_enc_receive_packet(nvc_encoder *e, nvc_packet *pkt, nvc_picture *recon);

NVC_API const char *nvc_enc_get_error(const nvc_encoder *e);
NVC_API void nvc_enc_close(nvc_encoder **e);

/* ==== Writer: a .nvc muxer ==== */

typedef struct nvc_writer nvc_writer;

/* Creates a temporary file beside `path` and writes the header for *info (frame_count is filled in at the
 * end). path "-" writes to standard output (no index rewrite, no rename). */
NVC_API int nvc_writer_open(nvc_writer **out, const char *path, const nvc_stream_info *info, char *msg,
                            size_t msg_size);
/* Appends one packet (from nvc_enc_receive_packet, or a frame read by nvc_reader_read_frame): checked, and
 * noted in the I-frame index. */
NVC_API int nvc_writer_write(nvc_writer *w, const nvc_packet *pkt);
/* Writes the index and trailer, completes the header and renames the file into place. Frees *w whatever the
 * outcome (on failure the temporary file is removed and the message written to msg). */
NVC_API int nvc_writer_close(nvc_writer **w, char *msg, size_t msg_size);
/* Gives up: removes the temporary file and frees *w. */
NVC_API void nvc_writer_abort(nvc_writer **w);
NVC_API const char *nvc_writer_error(const nvc_writer *w);

#ifdef __cplusplus
}
#endif
#endif

/* The .nvc stream format: round trips, the bounds of every field (writer and parser), truncation at every byte,
 * random corruption with resynchronisation, the index and seeking, and the writer's temp-file discipline.
 * `test_stream --write-corpus DIR` writes the seed streams of the fuzz corpus. */
#include "codec/crc32.h"
#include "codec/le.h"
#include "codec/stream.h"
#include "tests/testutil.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_dir[64];

static nvc_stream_header base_header(void)
{
    nvc_stream_header h;
    memset(&h, 0, sizeof h);
    h.width = 1280;
    h.height = 720;
    h.fps_num = 30000;
    h.fps_den = 1001;
    h.colour_primaries = 1;
    h.transfer = 1;
    h.matrix = 1;
    h.full_range = 0;
    h.chroma_format = 1;
    h.bit_depth = 8;
    h.gop_length = 4;
    h.frame_count = NVC_STREAM_FRAME_COUNT_UNKNOWN;
    h.model_id = 0x1234ABCD;
    strcpy(h.model_name, "mobile-q8");
    return h;
}

/* A generated stream: its bytes, and per frame the offset, size and the layout that was written. */
typedef struct {
    uint8_t *bytes;
    size_t size;
    int nframes;
    uint64_t offset[64];
    size_t frame_bytes[64];
    uint32_t number[64];
    uint8_t type[64];
    uint64_t index_offset;
} stream;

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return b;
}

static void write_file(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(b, 1, n, f) == n);
        fclose(f);
    }
}

/* Fills f with a random layout (I: 2 segments, P: 4 with random flags, a flagged-off latent's two segments
 * with one empty substream each) and data with random bytes; returns the payload size. */
static size_t random_frame(unsigned long long *rng, nvc_frame_info *f, uint8_t *data, const uint8_t **ptrs,
                           uint32_t number, int type, int max_sub, int max_size)
{
    memset(f, 0, sizeof *f);
    f->type = (uint8_t)type;
    f->quality = (uint8_t)(test_rand(rng) % 64);
    f->frame_number = number;
    f->nsegments = type == NVC_FRAME_I ? 2 : 4;
    f->flags = type == NVC_FRAME_I ? 0 : (uint8_t)(test_rand(rng) % 4);
    size_t k = 0, off = 0;
    for (uint32_t s = 0; s < f->nsegments; s++) {
        const int absent =
            (s < 2 && (f->flags & NVC_FRAME_NO_MOTION)) || (s >= 2 && (f->flags & NVC_FRAME_NO_RESIDUAL));
        f->nsubstreams[s] = absent ? 1 : 1 + (uint32_t)(test_rand(rng) % (unsigned)max_sub);
        for (uint32_t i = 0; i < f->nsubstreams[s]; i++, k++) {
            f->substream_size[k] = absent ? 0 : (uint32_t)(test_rand(rng) % (unsigned)(max_size + 1));
            ptrs[k] = data + off;
            for (uint32_t b = 0; b < f->substream_size[k]; b++)
                data[off++] = (uint8_t)test_rand(rng);
        }
    }
    return off;
}

/* Writes a stream of n frames (an I-frame every gop) with the writer and reads it back into s. */
static int make_stream(stream *s, unsigned long long seed, int n, int gop, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    nvc_stream_header h = base_header();
    h.gop_length = (uint16_t)gop;
    nvc_stream_writer *w;
    char msg[256];
    int err = nvc_stream_writer_open(&w, path, &h, msg, sizeof msg);
    CHECK_EQ_INT(err, 0);
    if (err)
        return err;
    nvc_frame_info *f = malloc(sizeof *f);
    uint8_t *data = malloc(16 * 4 * 41);
    const uint8_t *ptrs[64];
    unsigned long long rng = seed;
    memset(s, 0, sizeof *s);
    uint64_t pos = NVC_STREAM_HEADER_SIZE;
    for (int i = 0; i < n && i < 64; i++) {
        int type = i % gop == 0 ? NVC_FRAME_I : NVC_FRAME_P;
        uint32_t number = (uint32_t)(i * 2 + 1); /* gaps are allowed: numbers only have to increase */
        size_t payload = random_frame(&rng, f, data, ptrs, number, type, 4, 40);
        CHECK_EQ_INT(nvc_stream_writer_frame(w, f, ptrs), 0);
        s->offset[i] = pos;
        s->frame_bytes[i] = f->header_size + payload;
        s->number[i] = number;
        s->type[i] = (uint8_t)type;
        pos += s->frame_bytes[i];
        s->nframes++;
    }
    s->index_offset = pos;
    free(f);
    free(data);
    err = nvc_stream_writer_close(w, msg, sizeof msg);
    CHECK_EQ_INT(err, 0);
    s->bytes = read_file(path, &s->size);
    CHECK(s->bytes != NULL);
    return s->bytes ? 0 : -1;
}

static void test_crc(void)
{
    CHECK_EQ_INT(nvc_crc32(0, "123456789", 9), 0xCBF43926u);
    CHECK_EQ_INT(nvc_crc32(nvc_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u); /* running CRC */
    CHECK_EQ_INT(nvc_crc32(0, "", 0), 0);
}

/* Re-seals a forged header (or any chunk whose CRC is its last 4 bytes). */
static void reseal(uint8_t *b, size_t size)
{
    uint32_t c = nvc_crc32(0, b, size - 4);
    b[size - 4] = (uint8_t)c;
    b[size - 3] = (uint8_t)(c >> 8);
    b[size - 2] = (uint8_t)(c >> 16);
    b[size - 1] = (uint8_t)(c >> 24);
}

static int parse_hdr(const uint8_t *b, size_t n, nvc_stream_parser *p)
{
    size_t used;
    nvc_stream_parser_init(p);
    return nvc_stream_parse_header(p, b, n, &used);
}

typedef struct {
    const char *what;
    void (*set)(nvc_stream_header *h);
    int offset, width, value; /* the same field forged in the bytes */
    int parse_err;
} header_case;

#define SETTER(name, stmt) static void name(nvc_stream_header *h) { stmt; }
SETTER(w_odd, h->width = 1281)
SETTER(w_zero, h->width = 0)
SETTER(w_big, h->width = 8194)
SETTER(h_odd, h->height = 719)
SETTER(h_big, h->height = 8194)
SETTER(px_big, (h->width = 8192, h->height = 8192))
SETTER(fps_zero, h->fps_num = 0)
SETTER(fps_big, h->fps_den = 1000001)
SETTER(prim_bad, h->colour_primaries = 3)
SETTER(prim_bad2, h->colour_primaries = 23)
SETTER(trc_bad, h->transfer = 19)
SETTER(mat_bad, h->matrix = 3)
SETTER(range_bad, h->full_range = 2)
SETTER(chroma_bad, h->chroma_format = 3)
SETTER(depth_bad, h->bit_depth = 10)
SETTER(name_ctrl, h->model_name[2] = '\n')

static void test_header_bounds(void)
{
    nvc_stream_header h = base_header();
    uint8_t b[NVC_STREAM_HEADER_SIZE + 16];
    char msg[256];
    nvc_stream_parser p;
    size_t used;
    CHECK_EQ_INT(nvc_stream_write_header(&h, b, msg, sizeof msg), 0);
    CHECK_EQ_INT(parse_hdr(b, NVC_STREAM_HEADER_SIZE, &p), 0);
    CHECK_EQ_INT(p.header.width, 1280);
    CHECK_EQ_INT(p.header.height, 720);
    CHECK_EQ_INT(p.header.fps_num, 30000);
    CHECK_EQ_INT(p.header.fps_den, 1001);
    CHECK_EQ_INT(p.header.gop_length, 4);
    CHECK_EQ_INT(p.header.model_id, 0x1234ABCD);
    CHECK(strcmp(p.header.model_name, "mobile-q8") == 0);
    CHECK_EQ_INT(p.header.frame_count, NVC_STREAM_FRAME_COUNT_UNKNOWN);
    CHECK_EQ_INT(p.header.version_major, NVC_STREAM_VERSION_MAJOR);
    CHECK_EQ_INT(p.header.header_size, NVC_STREAM_HEADER_SIZE);

    /* Extreme legal values. */
    nvc_stream_header e = h;
    e.width = 8192;
    e.height = 4352;
    e.fps_num = 1000000;
    e.fps_den = 1;
    e.colour_primaries = 22;
    e.transfer = 18;
    e.matrix = 14;
    e.full_range = 1;
    memcpy(e.model_name, "0123456789abcdef", 16);
    CHECK_EQ_INT(nvc_stream_write_header(&e, b, msg, sizeof msg), 0);
    CHECK_EQ_INT(parse_hdr(b, NVC_STREAM_HEADER_SIZE, &p), 0);
    CHECK(strcmp(p.header.model_name, "0123456789abcdef") == 0);
    CHECK_EQ_INT(p.header.width * p.header.height, NVC_STREAM_MAX_PIXELS);
    e.width = e.height = 2;
    CHECK_EQ_INT(nvc_stream_write_header(&e, b, msg, sizeof msg), 0);
    CHECK_EQ_INT(parse_hdr(b, NVC_STREAM_HEADER_SIZE, &p), 0);

    /* Every illegal value: the writer refuses it (EINVAL), and forged into valid bytes the parser refuses it. */
    static const header_case cases[] = {
        {"odd width", w_odd, 16, 2, 1281, NVC_EINVALDATA},
        {"zero width", w_zero, 16, 2, 0, NVC_EINVALDATA},
        {"width > max", w_big, 16, 2, 8194, NVC_EINVALDATA},
        {"odd height", h_odd, 18, 2, 719, NVC_EINVALDATA},
        {"height > max", h_big, 18, 2, 8194, NVC_EINVALDATA},
        {"pixels > max", px_big, 16, 4, 8192 | 8192 << 16, NVC_EINVALDATA},
        {"fps num 0", fps_zero, 20, 4, 0, NVC_EINVALDATA},
        {"fps den big", fps_big, 24, 4, 1000001, NVC_EINVALDATA},
        {"primaries 3", prim_bad, 28, 1, 3, NVC_EINVALDATA},
        {"primaries 23", prim_bad2, 28, 1, 23, NVC_EINVALDATA},
        {"transfer 19", trc_bad, 29, 1, 19, NVC_EINVALDATA},
        {"matrix 3", mat_bad, 30, 1, 3, NVC_EINVALDATA},
        {"range 2", range_bad, 31, 1, 2, NVC_EINVALDATA},
        {"chroma 3", chroma_bad, 32, 1, 3, NVC_EUNSUPPORTED},
        {"depth 10", depth_bad, 33, 1, 10, NVC_EUNSUPPORTED},
        {"model name control char", name_ctrl, 46, 1, '\n', NVC_EINVALDATA},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nvc_stream_header bad = h;
        cases[i].set(&bad);
        msg[0] = 0;
        CHECK_EQ_INT(nvc_stream_write_header(&bad, b, msg, sizeof msg), NVC_EINVAL);
        CHECK(msg[0] != 0);
        CHECK_EQ_INT(nvc_stream_write_header(&h, b, NULL, 0), 0);
        for (int k = 0; k < cases[i].width; k++)
            b[cases[i].offset + k] = (uint8_t)((unsigned)cases[i].value >> (8 * k));
        reseal(b, NVC_STREAM_HEADER_SIZE);
        int err = parse_hdr(b, NVC_STREAM_HEADER_SIZE, &p);
        if (err != cases[i].parse_err)
            fprintf(stderr, "case %s: parse gave %d\n", cases[i].what, err);
        CHECK_EQ_INT(err, cases[i].parse_err);
        CHECK(p.error[0] != 0 && !p.have_header);
    }

    /* Bytes after the model name's NUL. */
    CHECK_EQ_INT(nvc_stream_write_header(&h, b, NULL, 0), 0);
    b[44 + 15] = 'x';
    reseal(b, NVC_STREAM_HEADER_SIZE);
    CHECK_EQ_INT(parse_hdr(b, NVC_STREAM_HEADER_SIZE, &p), NVC_EINVALDATA);

    /* Structure: magic, CRC, version, flags, header size. */
    CHECK_EQ_INT(nvc_stream_write_header(&h, b, NULL, 0), 0);
    b[0] ^= 1;
    CHECK_EQ_INT(parse_hdr(b, NVC_STREAM_HEADER_SIZE, &p), NVC_EINVALDATA);
    CHECK_EQ_INT(parse_hdr(b, 3, &p), NVC_EINVALDATA); /* wrong magic is reported from the first bytes */
    b[0] ^= 1;
    b[20] ^= 1; /* any flipped bit: CRC */
    CHECK_EQ_INT(parse_hdr(b, NVC_STREAM_HEADER_SIZE, &p), NVC_EINVALDATA);
    CHECK(strstr(p.error, "CRC") != NULL);
    b[20] ^= 1;
    b[8] = NVC_STREAM_VERSION_MAJOR + 1; /* a later major version */
    CHECK_EQ_INT(parse_hdr(b, NVC_STREAM_HEADER_SIZE, &p), NVC_EUNSUPPORTED);
    b[8] = 1; /* 1.0: other substream lane rule (docs/bitstream.md, History) */
    CHECK_EQ_INT(parse_hdr(b, NVC_STREAM_HEADER_SIZE, &p), NVC_EUNSUPPORTED);
    b[8] = NVC_STREAM_VERSION_MAJOR;
    b[14] = 1; /* unknown flag */
    reseal(b, NVC_STREAM_HEADER_SIZE);
    CHECK_EQ_INT(parse_hdr(b, NVC_STREAM_HEADER_SIZE, &p), NVC_EUNSUPPORTED);
    b[14] = 0;
    b[12] = 80; /* a header of this version must be 64 bytes */
    CHECK_EQ_INT(parse_hdr(b, sizeof b, &p), NVC_EINVALDATA);
    b[10] = 0; /* so must a 2.0 header */
    CHECK_EQ_INT(parse_hdr(b, sizeof b, &p), NVC_EINVALDATA);
    /* A 2.0 header is read (the layout is the same). */
    CHECK_EQ_INT(nvc_stream_write_header(&h, b, NULL, 0), 0);
    b[10] = 0;
    reseal(b, NVC_STREAM_HEADER_SIZE);
    CHECK_EQ_INT(parse_hdr(b, NVC_STREAM_HEADER_SIZE, &p), 0);
    CHECK_EQ_INT(p.header.version_minor, 0);
    /* Re-written (as the file reader does for the decoder), a parsed earlier header keeps its version: its
     * frames are in that version's layout (2.2: substreams with a lane byte). A header of our own gets ours. */
    for (int minor = 0; minor <= NVC_STREAM_VERSION_MINOR; minor++) {
        b[10] = (uint8_t)minor;
        reseal(b, NVC_STREAM_HEADER_SIZE);
        CHECK_EQ_INT(parse_hdr(b, NVC_STREAM_HEADER_SIZE, &p), 0);
        uint8_t again[NVC_STREAM_HEADER_SIZE];
        CHECK_EQ_INT(nvc_stream_write_header(&p.header, again, NULL, 0), 0);
        CHECK_EQ_INT(again[10], minor);
    }
    CHECK_EQ_INT(h.version_major, 0);
    CHECK_EQ_INT(nvc_stream_write_header(&h, b, NULL, 0), 0);
    CHECK_EQ_INT(b[10], NVC_STREAM_VERSION_MINOR);
    /* A header of a later minor version with 16 more bytes: read, the extension skipped. */
    CHECK_EQ_INT(nvc_stream_write_header(&h, b, NULL, 0), 0);
    memset(b + 60, 0xEE, 16);
    b[10] = NVC_STREAM_VERSION_MINOR + 1;
    b[12] = 80;
    reseal(b, 80);
    CHECK_EQ_INT(parse_hdr(b, 80, &p), 0);
    CHECK_EQ_INT(p.header.header_size, 80);
    CHECK_EQ_INT(p.header.version_minor, NVC_STREAM_VERSION_MINOR + 1);
    /* Short buffers: NVC_EAGAIN with the bytes needed. */
    CHECK_EQ_INT(nvc_stream_write_header(&h, b, NULL, 0), 0);
    for (size_t n = 0; n < NVC_STREAM_HEADER_SIZE; n++) {
        nvc_stream_parser_init(&p);
        used = 0;
        CHECK_EQ_INT(nvc_stream_parse_header(&p, b, n, &used), NVC_EAGAIN);
        CHECK(used > n && used <= NVC_STREAM_HEADER_SIZE);
    }
}

/* The largest legal layout: a P-frame numbered 2^32 - 2 with 8 segments, 2048 substreams in all, 1024 in the first;
 * substream 0 of size0 bytes, the others of `size` each. */
static void largest_layout(nvc_frame_info *f, uint32_t size0, uint32_t size)
{
    memset(f, 0, sizeof *f);
    f->type = NVC_FRAME_P;
    f->frame_number = 0xFFFFFFFEu;
    f->nsegments = 8;
    for (int s = 0; s < 8; s++)
        f->nsubstreams[s] = s == 0 ? 1024 : 146;
    f->nsubstreams[7] = 2048 - 1024 - 6 * 146;
    for (int k = 0; k < 2048; k++)
        f->substream_size[k] = k == 0 ? size0 : size;
}

/* The compact frame header of 3.x (docs/bitstream.md): its bytes for a small frame, left-out segments (no
 * substreams listed, one empty substream parsed), no payload CRC without a payload, the largest layout, varints
 * (minimal, at most 5 bytes), short buffers, forged fields. */
static void test_compact_frame_header(void)
{
    nvc_frame_info *f = calloc(1, sizeof *f), *g = calloc(1, sizeof *g);
    static uint8_t hdr[NVC_STREAM_FRAME_MAX_HEADER_SIZE + 64];
    size_t len, need = 0;
    nvc_stream_parser p;
    nvc_stream_parser_init(&p);
    p.have_header = 1;
    p.header = base_header();
    p.header.version_major = NVC_STREAM_VERSION_MAJOR;
    p.header.version_minor = NVC_STREAM_VERSION_MINOR;

    /* a P-frame with context-coded vectors and no residual, frame 200: 26 bytes where 2.x took 50 */
    f->type = NVC_FRAME_P;
    f->quality = 7;
    f->flags = NVC_FRAME_MV_CONTEXT | NVC_FRAME_NO_RESIDUAL;
    f->frame_number = 200;
    f->nsegments = 4;
    for (int s = 0; s < 4; s++)
        f->nsubstreams[s] = 1;
    f->substream_size[1] = 300;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0xA1B2C3D4u, hdr, sizeof hdr, &len, NULL, 0), 0);
    static const uint8_t want[] = { 'N', 'V', 'C', 'F', 26, 0, 1, 7, 6, 4, 0xC8, 0x01 /* 200 */, 0, 1, 0, 0,
                                    0xAC, 0x02 /* 300 */, 0xD4, 0xC3, 0xB2, 0xA1 };
    CHECK_EQ_INT(len, 26);
    CHECK_EQ_INT(f->header_size, 26);
    CHECK(memcmp(hdr, want, sizeof want) == 0);
    CHECK_EQ_INT(nvc_le32(hdr + 22), nvc_crc32(0, hdr, 22));
    CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, len, &need, g), 0);
    CHECK(g->frame_number == 200 && g->flags == f->flags && g->nsegments == 4 && g->total_substreams == 4);
    CHECK(g->nsubstreams[0] == 1 && g->substream_size[0] == 0 && g->substream_size[1] == 300);
    CHECK(g->payload_size == 300 && g->payload_crc == 0xA1B2C3D4u && g->lanes_signalled);
    for (size_t n = 0; n < len; n++) { /* short buffers: EAGAIN with a growing need, never beyond the header */
        need = 0;
        CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, n, &need, g), NVC_EAGAIN);
        CHECK(need > n && need <= len);
    }
    /* a repeat: every segment left out, no payload, no payload CRC: 20 bytes (19 before frame 128) */
    f->flags = NVC_FRAME_NO_MOTION | NVC_FRAME_NO_RESIDUAL;
    f->substream_size[1] = 0;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, NULL, 0), 0);
    CHECK_EQ_INT(len, 20);
    CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, len, &need, g), 0);
    CHECK(g->payload_size == 0 && g->total_substreams == 4);
    /* forged: a listed segment of one empty substream (the writer lists 0), bytes appended before the CRC, a
     * missing byte, an overlong varint, a frame number over 32 bits */
    static const uint8_t one_empty[] = { 'N', 'V', 'C', 'F', 20, 0, 1, 7, 3, 4, 0xC8, 0x01, 1, 0, 0, 0, 0 };
    static const uint8_t appended[] = { 'N', 'V', 'C', 'F', 20, 0, 1, 7, 3, 4, 0xC8, 0x01, 0, 0, 0, 0, 9 };
    static const uint8_t missing[] = { 'N', 'V', 'C', 'F', 18, 0, 1, 7, 3, 4, 0xC8, 0x01, 0, 0, 0 };
    static const uint8_t overlong[] = { 'N', 'V', 'C', 'F', 20, 0, 1, 7, 3, 4, 0xC8, 0x81, 0x00, 0, 0, 0, 0 };
    static const uint8_t too_big[] = { 'N', 'V', 'C', 'F', 23, 0, 1, 7, 3, 4, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F,
                                       0, 0, 0, 0, 0 };
    const struct { const uint8_t *b; size_t n; } forged[] = { { one_empty, sizeof one_empty },
                                                               { appended, sizeof appended },
                                                               { missing, sizeof missing },
                                                               { overlong, sizeof overlong },
                                                               { too_big, sizeof too_big } };
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        const size_t n = forged[i].n + 4;
        memcpy(hdr, forged[i].b, forged[i].n);
        hdr[4] = (uint8_t)n;
        reseal(hdr, n);
        CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, n, &need, g), NVC_EINVALDATA);
    }
    /* the same bytes as a well-formed repeat parse (the forgeries fail for what they change) */
    static const uint8_t repeat[] = { 'N', 'V', 'C', 'F', 20, 0, 1, 7, 3, 4, 0xC8, 0x01, 0, 0, 0, 0 };
    memcpy(hdr, repeat, sizeof repeat);
    reseal(hdr, 20);
    CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, 20, &need, g), 0);
    /* flags: 3.0 defines those of 2.3 (bits 0..3), 3.1 SCALE_SHIFT and FITTED_TABLES (bits 4, 5) on I- and
     * P-frames, not with NO_RESIDUAL; undefined ones are unsupported, the other type's invalid, and the writer
     * refuses what the version does not define */
    for (int minor = 0; minor <= NVC_STREAM_VERSION_MINOR; minor++) {
        p.header.version_minor = (uint16_t)minor;
        const int known = minor >= 1 ? 64 : 16;
        for (int fl = 0; fl < 128; fl++)
            for (int type = NVC_FRAME_I; type <= NVC_FRAME_P; type++) {
                memcpy(hdr, repeat, sizeof repeat);
                hdr[6] = (uint8_t)type;
                hdr[8] = (uint8_t)fl;
                reseal(hdr, 20);
                const int bad = type == NVC_FRAME_I ? (fl & ~NVC_FRAME_FLAGS_I) != 0
                                                    : (fl & NVC_FRAME_MEANS_CONTEXT) ||
                                                          ((fl & NVC_FRAME_MV_CONTEXT) && (fl & NVC_FRAME_NO_MOTION)) ||
                                                          ((fl & (NVC_FRAME_SCALE_SHIFT | NVC_FRAME_FITTED_TABLES)) &&
                                                           (fl & NVC_FRAME_NO_RESIDUAL));
                CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, 20, &need, g),
                             fl >= known ? NVC_EUNSUPPORTED : bad ? NVC_EINVALDATA : 0);
            }
        f->type = NVC_FRAME_I;
        f->flags = NVC_FRAME_SCALE_SHIFT;
        CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, NULL, 0),
                     minor >= 1 ? 0 : NVC_EINVAL);
        f->flags = NVC_FRAME_FITTED_TABLES;
        CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, NULL, 0),
                     minor >= 1 ? 0 : NVC_EINVAL);
        f->type = NVC_FRAME_P;
        f->flags = NVC_FRAME_SCALE_SHIFT | NVC_FRAME_NO_RESIDUAL;
        CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, NULL, 0), NVC_EINVAL);
        f->flags = NVC_FRAME_FITTED_TABLES | NVC_FRAME_NO_RESIDUAL;
        CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, NULL, 0), NVC_EINVAL);
    }
    f->flags = NVC_FRAME_NO_MOTION | NVC_FRAME_NO_RESIDUAL;
    /* a later minor version may append fields before the CRC */
    p.header.version_minor = NVC_STREAM_VERSION_MINOR + 1;
    memcpy(hdr, appended, sizeof appended);
    hdr[4] = sizeof appended + 4;
    reseal(hdr, sizeof appended + 4);
    CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, sizeof appended + 4, &need, g), 0);
    p.header.version_minor = NVC_STREAM_VERSION_MINOR;
    /* the largest layout: 8 segments, 2048 substreams of up to 2^26 - 1 bytes (varints of 4 bytes) fit the
     * buffer size 2.x defined */
    largest_layout(f, 1u << 21, 1);
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, NULL, 0), 0);
    CHECK(len <= NVC_STREAM_FRAME_MAX_HEADER_SIZE);
    CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, len, &need, g), 0);
    CHECK(g->total_substreams == 2048 && g->frame_number == 0xFFFFFFFEu && g->substream_size[0] == 1u << 21);
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, 40, &len, NULL, 0), NVC_EINVAL);
    free(f);
    free(g);
}

/* Frame fields: writer refuses, forged bytes refused by the parser. */
static void test_frame_bounds(void)
{
    nvc_frame_info *f = calloc(1, sizeof *f), *g = calloc(1, sizeof *g);
    static uint8_t hdr[NVC_STREAM_FRAME_MAX_HEADER_SIZE + 64];
    size_t len;
    char msg[256];
    nvc_stream_parser p;
    nvc_stream_parser_init(&p);
    p.have_header = 1;
    p.header = base_header();
    p.header.version_major = 2; /* the fixed-width layout of 2.x (test_compact_frame_header: 3.x) */
    p.header.version_minor = 3;

    /* Largest legal layout: 8 segments, 2048 substreams in all, 1024 in one. */
    largest_layout(f, 0, 0);
    f->quality = 63;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, msg, sizeof msg), 0);
    CHECK_EQ_INT(len, NVC_STREAM_FRAME_MAX_HEADER_SIZE);
    size_t need = 0;
    CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, len, &need, g), 0);
    CHECK_EQ_INT(g->total_substreams, 2048);
    CHECK_EQ_INT(g->nsubstreams[7], f->nsubstreams[7]);
    CHECK_EQ_INT(g->frame_number, 0xFFFFFFFEu);
    CHECK_EQ_INT(g->quality, 63);
    /* Short buffers: EAGAIN with a growing need, never beyond the header. */
    for (size_t n = 0; n < len; n++) {
        need = 0;
        CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, n, &need, g), NVC_EAGAIN);
        CHECK(need > n && need <= len);
    }
    /* One substream more is too many. */
    f->nsubstreams[7]++;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, msg, sizeof msg), NVC_EINVAL);
    f->nsubstreams[0] = 1025;
    f->nsubstreams[7]--;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, msg, sizeof msg), NVC_EINVAL);

    /* A small valid frame to forge from. */
    memset(f, 0, sizeof *f);
    f->type = NVC_FRAME_I;
    f->quality = 10;
    f->frame_number = 5;
    f->nsegments = 2;
    f->nsubstreams[0] = 1;
    f->nsubstreams[1] = 2;
    f->substream_size[0] = 3;
    f->substream_size[1] = 0;
    f->substream_size[2] = 7;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, msg, sizeof msg), 0);
    CHECK_EQ_INT(len, NVC_STREAM_FRAME_FIXED_SIZE + 2 * 2 + 4 * 3);
    CHECK_EQ_INT(f->payload_size, 10);
    CHECK_EQ_INT(f->substream_offset[2], 3);
    CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, len, &need, g), 0);
    CHECK_EQ_INT(g->payload_size, 10);
    CHECK_EQ_INT(g->substream_offset[2], 3);
    g->payload = (const uint8_t *)"abcdefghij";
    uint32_t sz = 99;
    CHECK(nvc_frame_substream(g, 1, 1, &sz) == g->payload + 3 && sz == 7);
    CHECK(nvc_frame_substream(g, 1, 2, &sz) == NULL);
    CHECK(nvc_frame_substream(g, 2, 0, &sz) == NULL);

    /* Writer-side refusals. */
    nvc_frame_info save = *f;
    f->type = 2;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, msg, sizeof msg), NVC_EINVAL);
    *f = save;
    f->quality = 64;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, msg, sizeof msg), NVC_EINVAL);
    *f = save;
    f->nsegments = 0;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, msg, sizeof msg), NVC_EINVAL);
    f->nsegments = 9;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, msg, sizeof msg), NVC_EINVAL);
    *f = save;
    f->nsubstreams[1] = 0;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, msg, sizeof msg), NVC_EINVAL);
    *f = save;
    f->substream_size[2] = NVC_STREAM_MAX_FRAME_BYTES - 2; /* total one byte over the limit */
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, msg, sizeof msg), NVC_EINVAL);
    f->substream_size[2] = NVC_STREAM_MAX_FRAME_BYTES - 3; /* exactly the limit */
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, msg, sizeof msg), 0);
    *f = save;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, 20, &len, msg, sizeof msg), NVC_EINVAL);

    /* Parser-side: each field forged into resealed bytes. */
    struct { int offset, value; } forge[] = {
        {6, 2},     /* type */
        {7, 64},    /* quality */
        {20, 0},    /* segments */
        {20, 9},    /* segments */
        {21, 1},    /* flags: unsupported */
        {4, 60},    /* header size not matching the layout */
        {12, 11},   /* payload size not the sum of substream sizes */
        {22, 0},    /* segment 0 without substreams */
    };
    for (size_t i = 0; i < sizeof forge / sizeof forge[0]; i++) {
        CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, &save, 0, hdr, sizeof hdr, &len, NULL, 0), 0);
        hdr[forge[i].offset] = (uint8_t)forge[i].value;
        reseal(hdr, len);
        int err = nvc_stream_parse_frame_header(&p, hdr, len, &need, g);
        CHECK(err == NVC_EINVALDATA || (forge[i].offset == 21 && err == NVC_EUNSUPPORTED));
        if (err == 0 || err == NVC_EAGAIN)
            fprintf(stderr, "forged frame field at %d accepted\n", forge[i].offset);
    }
    /* Substream layout (2.2): the lane byte is read from 2.2 streams on, not before. */
    for (int minor = 0; minor <= NVC_STREAM_VERSION_MINOR; minor++) {
        p.header.version_minor = (uint16_t)minor;
        CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, &save, 0, hdr, sizeof hdr, &len, NULL, 0), 0);
        CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, len, &need, g), 0);
        CHECK_EQ_INT(g->lanes_signalled, minor >= 2);
    }
    /* Frame flags: P-frame flags are read from a 2.1 stream (bits 0, 1) and from a 2.3 stream (bit 2 too), the
     * I-frame flag from a 2.3 stream (bit 3), unknown ones are unsupported, flags are unknown in a 2.0 stream, and
     * flags on the other frame type are invalid (writer and parser), as is MV_CONTEXT with NO_MOTION. */
    nvc_frame_info pframe = save;
    pframe.type = NVC_FRAME_P;
    for (int minor = 1; minor <= 3; minor++) {
        p.header.version_minor = (uint16_t)minor;
        const int known = minor >= 3 ? 16 : 4;
        for (int fl = 0; fl < 32; fl++) {
            CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, &pframe, 0, hdr, sizeof hdr, &len, NULL, 0), 0);
            hdr[21] = (uint8_t)fl;
            reseal(hdr, len);
            const int p_bad = ((fl & NVC_FRAME_MV_CONTEXT) && (fl & NVC_FRAME_NO_MOTION)) || (fl & NVC_FRAME_FLAGS_I);
            CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, len, &need, g),
                         fl >= known ? NVC_EUNSUPPORTED : p_bad ? NVC_EINVALDATA : 0);
            if (fl < known && !p_bad)
                CHECK_EQ_INT(g->flags, fl);
            hdr[6] = NVC_FRAME_I;
            reseal(hdr, len);
            const int i_ok = fl == 0 || (minor >= 3 && fl == NVC_FRAME_MEANS_CONTEXT);
            CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, len, &need, g),
                         i_ok ? 0 : fl < known ? NVC_EINVALDATA : NVC_EUNSUPPORTED);
        }
    }
    p.header.version_minor = 0;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, &pframe, 0, hdr, sizeof hdr, &len, NULL, 0), 0);
    hdr[21] = NVC_FRAME_NO_MOTION;
    reseal(hdr, len);
    CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, len, &need, g), NVC_EUNSUPPORTED);
    pframe.flags = NVC_FRAME_NO_MOTION; /* the writer refuses flags the version does not define */
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, &pframe, 0, hdr, sizeof hdr, &len, NULL, 0), NVC_EINVAL);
    pframe.flags = 0;
    p.header.version_minor = 3;
    *f = pframe;
    f->flags = NVC_FRAME_NO_MOTION | NVC_FRAME_NO_RESIDUAL;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, NULL, 0), 0);
    CHECK_EQ_INT(hdr[21], 3);
    f->flags = NVC_FRAME_MV_CONTEXT | NVC_FRAME_NO_RESIDUAL;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, NULL, 0), 0);
    CHECK_EQ_INT(hdr[21], 6);
    f->flags = NVC_FRAME_MV_CONTEXT | NVC_FRAME_NO_MOTION;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, NULL, 0), NVC_EINVAL);
    f->flags = NVC_FRAME_MEANS_CONTEXT; /* an I-frame flag */
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, NULL, 0), NVC_EINVAL);
    f->flags = 16;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, NULL, 0), NVC_EINVAL);
    f->flags = NVC_FRAME_NO_MOTION;
    f->type = NVC_FRAME_I;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, NULL, 0), NVC_EINVAL);
    f->flags = NVC_FRAME_MEANS_CONTEXT;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, NULL, 0), 0);
    CHECK_EQ_INT(hdr[21], 8);
    *f = save;
    /* Substream sizes summing past the frame limit (each in range, sum over). */
    f->nsegments = 1;
    f->nsubstreams[0] = 2;
    f->substream_size[0] = f->substream_size[1] = 1;
    CHECK_EQ_INT(nvc_stream_write_frame_header(&p.header, f, 0, hdr, sizeof hdr, &len, NULL, 0), 0);
    uint32_t big = NVC_STREAM_MAX_FRAME_BYTES / 2 + 1;
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 4; j++)
            hdr[24 + 4 * k + j] = (uint8_t)(big >> (8 * j));
    for (int j = 0; j < 4; j++)
        hdr[12 + j] = (uint8_t)((2 * big) >> (8 * j));
    reseal(hdr, len);
    CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, hdr, len, &need, g), NVC_EINVALDATA);
    /* Frame parsing without a header first. */
    nvc_stream_parser fresh;
    nvc_stream_parser_init(&fresh);
    size_t used;
    CHECK_EQ_INT(nvc_stream_parse_frame(&fresh, hdr, len, &used, g), NVC_EINVAL);
    free(f);
    free(g);
}

/* Parses a whole in-memory stream like the library decoder does; returns the frames read, -1 on error. */
static int parse_all(const uint8_t *b, size_t n, const stream *ref)
{
    nvc_stream_parser p;
    nvc_stream_parser_init(&p);
    size_t used, pos;
    if (nvc_stream_parse_header(&p, b, n, &used))
        return -1;
    pos = used;
    nvc_frame_info *f = malloc(sizeof *f);
    int count = 0;
    for (;;) {
        int err = nvc_stream_parse_frame(&p, b + pos, n - pos, &used, f);
        if (err == NVC_EOF || (err == NVC_EAGAIN && pos == n))
            break;
        if (err) {
            count = err == NVC_EAGAIN ? -2 : -1;
            break;
        }
        if (ref) {
            CHECK_EQ_INT(pos, ref->offset[count]);
            CHECK_EQ_INT(f->frame_number, ref->number[count]);
            CHECK_EQ_INT(f->type, ref->type[count]);
            CHECK_EQ_INT(used, ref->frame_bytes[count]);
            CHECK(f->payload == b + pos + f->header_size);
        }
        pos += used;
        count++;
    }
    free(f);
    return count;
}

/* A stream cut after n bytes ends cleanly on a frame boundary or once the index marker is complete. */
static int ends_clean(const stream *s, size_t n, int complete)
{
    return (complete < s->nframes && n == s->offset[complete]) || n == s->index_offset || n >= s->index_offset + 4;
}

static void test_roundtrip_and_truncation(void)
{
    stream s;
    if (make_stream(&s, 7, 12, 4, "rt.nvc"))
        return;
    CHECK_EQ_INT(parse_all(s.bytes, s.size, &s), 12);
    CHECK_EQ_INT(s.size, s.index_offset + nvc_stream_index_bytes(3));
    /* The header's frame count was filled in at close. */
    nvc_stream_parser p;
    CHECK_EQ_INT(parse_hdr(s.bytes, s.size, &p), 0);
    CHECK_EQ_INT(p.header.frame_count, 12);

    /* Truncation at every byte: the parser returns exactly the frames complete in the prefix, then asks for
     * more (or reports the header short). */
    for (size_t n = 0; n < s.size; n++) {
        int complete = 0;
        while (complete < s.nframes && s.offset[complete] + s.frame_bytes[complete] <= n)
            complete++;
        int got = parse_all(s.bytes, n, NULL);
        if (n < NVC_STREAM_HEADER_SIZE)
            CHECK_EQ_INT(got, -1);
        else if (ends_clean(&s, n, complete))
            CHECK_EQ_INT(got, complete);
        else if (got != -2) {
            fprintf(stderr, "truncated at %zu (index at %llu): got %d\n", n, (unsigned long long)s.index_offset, got);
            CHECK_EQ_INT(got, -2); /* ends inside a frame: the parser still needs bytes */
        }
    }

    /* The same truncations through the FILE* reader (fmemopen: not seekable, so no index). */
    nvc_frame_info *f = malloc(sizeof *f);
    for (size_t n = 0; n < s.size; n += 3) {
        FILE *fp = fmemopen(s.bytes, n ? n : 1, "rb");
        nvc_stream_file *sf;
        char msg[256];
        int err = nvc_stream_file_open_fp(&sf, fp, n ? msg : msg, sizeof msg);
        if (n < NVC_STREAM_HEADER_SIZE) {
            CHECK_EQ_INT(err, NVC_EINVALDATA);
            fclose(fp);
            continue;
        }
        CHECK_EQ_INT(err, 0);
        int frames = 0;
        while ((err = nvc_stream_file_next_frame(sf, f, NULL)) == 0)
            frames++;
        int complete = 0;
        while (complete < s.nframes && s.offset[complete] + s.frame_bytes[complete] <= n)
            complete++;
        CHECK_EQ_INT(frames, complete);
        if (ends_clean(&s, n, complete))
            CHECK_EQ_INT(err, NVC_EOF);
        else {
            CHECK_EQ_INT(err, NVC_EINVALDATA);
            CHECK(strstr(nvc_stream_file_error(sf), "offset") != NULL);
        }
        const nvc_stream_index *idx;
        CHECK_EQ_INT(nvc_stream_file_index(sf, &idx, NULL), NVC_EUNSUPPORTED);
        nvc_stream_file_close(sf);
        fclose(fp);
    }
    free(f);
    free(s.bytes);
}

/* Random damage: every frame whose bytes were not touched is still recovered (in order) by resynchronising,
 * and no damaged frame is returned. Both the memory parser and the file reader. */
static void test_corruption(void)
{
    stream s;
    if (make_stream(&s, 11, 40, 8, "corrupt.nvc"))
        return;
    unsigned long long rng = 99;
    uint8_t *b = malloc(s.size);
    nvc_frame_info *f = malloc(sizeof *f);
    char path[128];
    snprintf(path, sizeof path, "%s/damaged.nvc", tmp_dir);
    for (int trial = 0; trial < 150; trial++) {
        memcpy(b, s.bytes, s.size);
        int touched[64] = {0};
        int hits = 1 + (int)(test_rand(&rng) % 4);
        for (int h = 0; h < hits; h++) {
            size_t at = NVC_STREAM_HEADER_SIZE + test_rand(&rng) % (s.index_offset - NVC_STREAM_HEADER_SIZE);
            uint8_t x = (uint8_t)(1 + test_rand(&rng) % 255);
            if (trial % 3 == 0) /* sometimes plant a fake sync marker */
                memcpy(b + at, "NVCF", at + 4 <= s.index_offset ? 4 : 1);
            else
                b[at] ^= x;
            for (int i = 0; i < s.nframes; i++)
                if (at + 3 >= s.offset[i] && at < s.offset[i] + s.frame_bytes[i])
                    touched[i] |= memcmp(b + s.offset[i], s.bytes + s.offset[i], s.frame_bytes[i]) != 0;
        }
        int expect = 0;
        for (int i = 0; i < s.nframes; i++)
            expect += !touched[i];

        /* Memory: parse, on damage resync from the next byte. */
        nvc_stream_parser p;
        size_t used, pos;
        CHECK_EQ_INT(parse_hdr(b, s.size, &p), 0);
        pos = NVC_STREAM_HEADER_SIZE;
        int got = 0, next = 0;
        for (int guard = 0; guard < 10000; guard++) {
            int err = nvc_stream_parse_frame(&p, b + pos, s.size - pos, &used, f);
            if (err == NVC_EOF || pos == s.size)
                break;
            if (err == 0) {
                while (next < s.nframes && s.offset[next] != pos)
                    next++;
                CHECK(next < s.nframes && !touched[next]);
                got++;
                pos += used;
                continue;
            }
            /* Damaged, or cut off by the end of the data: resynchronise. A candidate the data ends inside is
             * no frame either: the next round fails on it and searches on from its second byte. */
            size_t off;
            nvc_stream_find_sync(&p, b + pos + 1, s.size - pos - 1, &off);
            pos += 1 + off;
        }
        CHECK_EQ_INT(got, expect);

        /* File reader on the damaged file. */
        write_file(path, b, s.size);
        nvc_stream_file *sf;
        char msg[256];
        CHECK_EQ_INT(nvc_stream_file_open(&sf, path, msg, sizeof msg), 0);
        int fgot = 0, err;
        for (int guard = 0; guard < 10000; guard++) {
            err = nvc_stream_file_next_frame(sf, f, NULL);
            if (err == 0) {
                fgot++;
                continue;
            }
            if (err != NVC_EINVALDATA)
                break;
            CHECK(nvc_stream_file_error(sf)[0] != 0);
            if (nvc_stream_file_resync(sf, NULL) != 0)
                break;
        }
        CHECK_EQ_INT(fgot, expect);
        /* Seeking still works: from the trailer, or by scanning when the damage hit index or trailer. */
        uint32_t iframe;
        CHECK_EQ_INT(nvc_stream_file_seek(sf, s.number[0], &iframe), 0);
        CHECK_EQ_INT(iframe, s.number[0]);
        nvc_stream_file_close(sf);
    }

    /* A false sync marker inside a damaged frame whose plausible header claims more bytes than the data still
     * holds: the reader must not wait for them at the end of the input, nor lose the frames after it. */
    memcpy(b, s.bytes, s.size);
    int k = s.nframes - 3;
    size_t at = s.offset[k] + s.frame_bytes[k] - 40; /* in frame k's payload */
    static const uint8_t fake[13] = {'N', 'V', 'C', 'F', 0xBC, 0x0F /* 4028 */, 0, 0, 0, 1 /* 1 segment */,
                                     0 /* frame 0 */, 0xE8, 0x07 /* 1000 substreams */}; /* compact layout (3.x) */
    CHECK(s.offset[k] + 26 < at && s.size - at < 4028);
    memcpy(b + at, fake, sizeof fake);
    nvc_stream_parser p;
    size_t used, pos = NVC_STREAM_HEADER_SIZE, off;
    CHECK_EQ_INT(parse_hdr(b, s.size, &p), 0);
    CHECK_EQ_INT(nvc_stream_find_sync(&p, b + s.offset[k] + 1, s.size - s.offset[k] - 1, &off), NVC_EAGAIN);
    CHECK_EQ_INT(s.offset[k] + 1 + off, at); /* the candidate, waiting for bytes that will not come */
    int got = 0;
    for (int guard = 0; guard < 10000 && pos < s.size; guard++) {
        int err = nvc_stream_parse_frame(&p, b + pos, s.size - pos, &used, f);
        if (err == NVC_EOF)
            break;
        if (err == 0) {
            got++;
            pos += used;
            continue;
        }
        nvc_stream_find_sync(&p, b + pos + 1, s.size - pos - 1, &off);
        pos += 1 + off;
    }
    CHECK_EQ_INT(got, s.nframes - 1);
    write_file(path, b, s.size);
    nvc_stream_file *sf;
    char msg[256];
    CHECK_EQ_INT(nvc_stream_file_open(&sf, path, msg, sizeof msg), 0);
    int fgot = 0, err;
    while ((err = nvc_stream_file_next_frame(sf, f, NULL)) != NVC_EOF) {
        if (err == 0)
            fgot++;
        else if (err != NVC_EINVALDATA || nvc_stream_file_resync(sf, NULL) != 0)
            break;
    }
    CHECK_EQ_INT(fgot, s.nframes - 1);
    nvc_stream_file_close(sf);
    free(f);
    free(b);
    free(s.bytes);
}

static void test_index_and_seek(void)
{
    stream s;
    if (make_stream(&s, 3, 20, 4, "seek.nvc"))
        return;
    char path[128], msg[256];
    snprintf(path, sizeof path, "%s/seek.nvc", tmp_dir);
    nvc_stream_file *sf;
    CHECK_EQ_INT(nvc_stream_file_open(&sf, path, msg, sizeof msg), 0);
    CHECK_EQ_INT(nvc_stream_file_header(sf)->frame_count, 20);
    const nvc_stream_index *idx;
    int from_trailer = -1;
    CHECK_EQ_INT(nvc_stream_file_index(sf, &idx, &from_trailer), 0);
    CHECK_EQ_INT(from_trailer, 1);
    CHECK_EQ_INT(idx->count, 5);
    for (uint32_t i = 0; i < idx->count && i < 5; i++) {
        CHECK_EQ_INT(idx->entries[i].frame_number, s.number[i * 4]);
        CHECK_EQ_INT(idx->entries[i].offset, s.offset[i * 4]);
    }
    nvc_frame_info *f = malloc(sizeof *f);
    uint64_t off;
    CHECK_EQ_INT(nvc_stream_file_next_frame(sf, f, &off), 0); /* loading the index kept the position */
    CHECK_EQ_INT(f->frame_number, s.number[0]);
    CHECK_EQ_INT(off, NVC_STREAM_HEADER_SIZE);
    uint32_t iframe;
    CHECK_EQ_INT(nvc_stream_file_seek(sf, s.number[6] + 1, &iframe), 0); /* between frames 6 and 7 */
    CHECK_EQ_INT(iframe, s.number[4]);
    CHECK_EQ_INT(nvc_stream_file_next_frame(sf, f, &off), 0);
    CHECK_EQ_INT(f->frame_number, s.number[4]);
    CHECK_EQ_INT(off, s.offset[4]);
    CHECK_EQ_INT(nvc_stream_file_next_frame(sf, f, NULL), 0);
    CHECK_EQ_INT(f->frame_number, s.number[5]);
    CHECK_EQ_INT(nvc_stream_file_seek(sf, 100000, &iframe), 0);
    CHECK_EQ_INT(iframe, s.number[16]);
    int rest = 0;
    while (nvc_stream_file_next_frame(sf, f, NULL) == 0)
        rest++;
    CHECK_EQ_INT(rest, 4);
    CHECK_EQ_INT(nvc_stream_file_seek(sf, 0, &iframe), NVC_EINVAL); /* frame numbers start at 1 here */
    nvc_stream_file_close(sf);

    /* An unfinished file (no index, no trailer): the index is built by scanning, with the same entries. */
    snprintf(path, sizeof path, "%s/unfinished.nvc", tmp_dir);
    write_file(path, s.bytes, s.index_offset);
    CHECK_EQ_INT(nvc_stream_file_open(&sf, path, msg, sizeof msg), 0);
    CHECK_EQ_INT(nvc_stream_file_index(sf, &idx, &from_trailer), 0);
    CHECK_EQ_INT(from_trailer, 0);
    CHECK_EQ_INT(idx->count, 5);
    CHECK_EQ_INT(idx->entries[4].offset, s.offset[16]);
    CHECK_EQ_INT(nvc_stream_file_seek(sf, s.number[9], &iframe), 0);
    CHECK_EQ_INT(iframe, s.number[8]);
    CHECK_EQ_INT(nvc_stream_file_next_frame(sf, f, NULL), 0);
    CHECK_EQ_INT(f->frame_number, s.number[8]);
    nvc_stream_file_close(sf);

    /* An index whose entries point at P-frames (forged, resealed): seeking reports it. */
    uint8_t *b = malloc(s.size);
    memcpy(b, s.bytes, s.size);
    size_t e1 = s.index_offset + 8 + NVC_STREAM_INDEX_ENTRY_SIZE; /* entry 1 */
    uint64_t p_off = s.offset[5];
    for (int j = 0; j < 8; j++)
        b[e1 + 4 + j] = (uint8_t)(p_off >> (8 * j));
    reseal(b + s.index_offset, 8 + 5 * NVC_STREAM_INDEX_ENTRY_SIZE + 4);
    snprintf(path, sizeof path, "%s/badindex.nvc", tmp_dir);
    write_file(path, b, s.size);
    CHECK_EQ_INT(nvc_stream_file_open(&sf, path, msg, sizeof msg), 0);
    CHECK_EQ_INT(nvc_stream_file_seek(sf, s.number[4], &iframe), 0);
    CHECK_EQ_INT(nvc_stream_file_next_frame(sf, f, NULL), NVC_EINVALDATA);
    nvc_stream_file_close(sf);

    /* Index chunk checks: order, offsets inside the file, CRC, count limit. */
    nvc_stream_parser p;
    CHECK_EQ_INT(parse_hdr(s.bytes, s.size, &p), 0);
    nvc_stream_index ix;
    size_t used;
    uint64_t io;
    CHECK_EQ_INT(nvc_stream_parse_trailer(&p, s.bytes + s.size - NVC_STREAM_TRAILER_SIZE, &io), 0);
    CHECK_EQ_INT(io, s.index_offset);
    CHECK_EQ_INT(nvc_stream_parse_index(&p, s.bytes + io, s.size - io, io, &used, &ix), 0);
    CHECK_EQ_INT(ix.count, 5);
    nvc_stream_index_free(&ix);
    for (size_t n = 0; n < 8 + 5 * NVC_STREAM_INDEX_ENTRY_SIZE + 4; n++)
        CHECK_EQ_INT(nvc_stream_parse_index(&p, s.bytes + io, n, io, &used, &ix), NVC_EAGAIN);
    memcpy(b, s.bytes, s.size);
    b[io + 8] = (uint8_t)(s.number[4] + 1); /* entry 0 numbered after entry 1 */
    reseal(b + io, 8 + 5 * NVC_STREAM_INDEX_ENTRY_SIZE + 4);
    CHECK_EQ_INT(nvc_stream_parse_index(&p, b + io, s.size - io, io, &used, &ix), NVC_EINVALDATA);
    CHECK(ix.entries == NULL);
    CHECK_EQ_INT(nvc_stream_parse_index(&p, s.bytes + io, s.size - io, s.offset[16], &used, &ix), NVC_EINVALDATA);
    memcpy(b, s.bytes, s.size);
    b[io + 7] = 0x7F; /* absurd count */
    CHECK_EQ_INT(nvc_stream_parse_index(&p, b + io, s.size - io, io, &used, &ix), NVC_EINVALDATA);
    b[io + 7] = 0;
    b[io + 9] ^= 1;
    CHECK_EQ_INT(nvc_stream_parse_index(&p, b + io, s.size - io, io, &used, &ix), NVC_EINVALDATA);
    memcpy(b, s.bytes, s.size);
    b[s.size - 1] ^= 1;
    CHECK_EQ_INT(nvc_stream_parse_trailer(&p, b + s.size - NVC_STREAM_TRAILER_SIZE, &io), NVC_EINVALDATA);
    b[s.size - 1] ^= 1;
    b[s.size - 16] ^= 1;
    CHECK_EQ_INT(nvc_stream_parse_trailer(&p, b + s.size - NVC_STREAM_TRAILER_SIZE, &io), NVC_EINVALDATA);

    /* A stream embedded after 37 other bytes of a file, opened at its position: offsets count from its start. */
    snprintf(path, sizeof path, "%s/embedded.bin", tmp_dir);
    memset(b, 'x', 37);
    FILE *fp = fopen(path, "wb");
    CHECK(fp && fwrite(b, 1, 37, fp) == 37 && fwrite(s.bytes, 1, s.size, fp) == s.size);
    fclose(fp);
    fp = fopen(path, "rb");
    CHECK(fp && fseek(fp, 37, SEEK_SET) == 0);
    CHECK_EQ_INT(nvc_stream_file_open_fp(&sf, fp, msg, sizeof msg), 0);
    CHECK_EQ_INT(nvc_stream_file_index(sf, &idx, &from_trailer), 0);
    CHECK_EQ_INT(from_trailer, 1);
    CHECK_EQ_INT(idx->entries[2].offset, s.offset[8]);
    CHECK_EQ_INT(nvc_stream_file_seek(sf, s.number[11], &iframe), 0);
    CHECK_EQ_INT(nvc_stream_file_next_frame(sf, f, &off), 0);
    CHECK_EQ_INT(f->frame_number, s.number[8]);
    CHECK_EQ_INT(off, s.offset[8]);
    nvc_stream_file_close(sf);
    fclose(fp);

    /* A pipe: not seekable, frames still read to the end. */
    char cmd[200];
    snprintf(cmd, sizeof cmd, "cat %s/seek.nvc", tmp_dir);
    FILE *pipe = popen(cmd, "r");
    CHECK(pipe != NULL);
    if (pipe) {
        CHECK_EQ_INT(nvc_stream_file_open_fp(&sf, pipe, msg, sizeof msg), 0);
        int n = 0;
        while (nvc_stream_file_next_frame(sf, f, NULL) == 0)
            n++;
        CHECK_EQ_INT(n, 20);
        CHECK_EQ_INT(nvc_stream_file_seek(sf, 0, &iframe), NVC_EUNSUPPORTED);
        nvc_stream_file_close(sf);
        pclose(pipe);
    }
    free(b);
    free(f);
    free(s.bytes);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int dir_entries(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", tmp_dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void test_writer(void)
{
    char path[128], msg[256];
    snprintf(path, sizeof path, "%s/writer.nvc", tmp_dir);
    nvc_stream_header h = base_header();
    nvc_stream_writer *w;
    int before = dir_entries();
    CHECK_EQ_INT(nvc_stream_writer_open(&w, path, &h, msg, sizeof msg), 0);
    CHECK(!file_exists(path)); /* only the temporary exists until close */
    CHECK_EQ_INT(dir_entries(), before + 1);
    nvc_frame_info *f = calloc(1, sizeof *f);
    const uint8_t *data[2] = {(const uint8_t *)"abc", NULL};
    f->type = NVC_FRAME_P;
    f->frame_number = 0;
    f->nsegments = 1;
    f->nsubstreams[0] = 2;
    f->substream_size[0] = 3;
    f->substream_size[1] = 0;
    CHECK_EQ_INT(nvc_stream_writer_frame(w, f, data), NVC_EINVAL); /* must start with an I-frame */
    f->type = NVC_FRAME_I;
    CHECK_EQ_INT(nvc_stream_writer_frame(w, f, data), 0);
    f->type = NVC_FRAME_P;
    CHECK_EQ_INT(nvc_stream_writer_frame(w, f, data), NVC_EINVAL); /* same number again */
    CHECK(nvc_stream_writer_error(w)[0] != 0);
    f->frame_number = 1;
    f->substream_size[1] = 2; /* size without data */
    CHECK_EQ_INT(nvc_stream_writer_frame(w, f, data), NVC_EINVAL);
    f->substream_size[1] = 0;
    CHECK_EQ_INT(nvc_stream_writer_frame(w, f, data), 0);
    CHECK_EQ_INT(nvc_stream_writer_close(w, msg, sizeof msg), 0);
    CHECK(file_exists(path));
    CHECK_EQ_INT(dir_entries(), before + 1); /* renamed: no temporary left */
    size_t n;
    uint8_t *b = read_file(path, &n);
    CHECK_EQ_INT(parse_all(b, n, NULL), 2);
    free(b);

    /* Aborted: nothing left behind. */
    CHECK_EQ_INT(nvc_stream_writer_open(&w, path, &h, msg, sizeof msg), 0);
    nvc_stream_writer_abort(w);
    CHECK_EQ_INT(dir_entries(), before + 1);
    /* Invalid header and an unwritable place: errors with messages. */
    h.width = 3;
    msg[0] = 0;
    CHECK_EQ_INT(nvc_stream_writer_open(&w, path, &h, msg, sizeof msg), NVC_EINVAL);
    CHECK(w == NULL && msg[0] != 0);
    h.width = 64;
    CHECK_EQ_INT(nvc_stream_writer_open(&w, "/nonexistent-dir/x.nvc", &h, msg, sizeof msg), NVC_EIO);
    CHECK(strstr(msg, "nonexistent") != NULL);
    unlink(path);
    free(f);
}

static void test_find_sync(void)
{
    nvc_stream_parser p;
    nvc_stream_parser_init(&p);
    p.have_header = 1;
    p.header = base_header();
    uint8_t junk[1000];
    unsigned long long rng = 5;
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(test_rand(&rng) % 200); /* no 'N'... markers by chance is fine either way */
    memcpy(junk + 500, "NVCF", 4); /* a marker without a valid header after it */
    size_t off;
    CHECK_EQ_INT(nvc_stream_find_sync(&p, junk, sizeof junk, &off), NVC_EAGAIN);
    CHECK_EQ_INT(off, sizeof junk - 3);
    CHECK_EQ_INT(nvc_stream_find_sync(&p, junk, 2, &off), NVC_EAGAIN);
    CHECK_EQ_INT(off, 0);
    /* A marker at the very end: keep it, more bytes may complete it. */
    memcpy(junk + 990, "NVCF", 4);
    CHECK_EQ_INT(nvc_stream_find_sync(&p, junk, 994, &off), NVC_EAGAIN);
    CHECK_EQ_INT(off, 990);
}

/* Seeds of the fuzz corpus: a few small valid streams, one unfinished. */
static int write_corpus(const char *dir)
{
    snprintf(tmp_dir, sizeof tmp_dir, "%s", dir);
    stream s;
    static const int shapes[][2] = {{3, 2}, {6, 3}, {1, 1}};
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "seed%d.nvc", i);
        if (make_stream(&s, 100 + i, shapes[i][0], shapes[i][1], name))
            return 1;
        if (i == 1) {
            char path[128];
            snprintf(path, sizeof path, "%s/seed-unfinished.nvc", dir);
            write_file(path, s.bytes, s.offset[4] + 5);
        }
        free(s.bytes);
    }
    return test_failures != 0;
}

/* An empty buffer (NULL, 0) asks for more bytes; the parser must not touch the pointer (UBSan checks). */
static void test_empty_input(void)
{
    nvc_stream_parser p;
    nvc_stream_parser_init(&p);
    size_t used = 0;
    CHECK_EQ_INT(nvc_stream_parse_header(&p, NULL, 0, &used), NVC_EAGAIN);
    CHECK(used > 0);
    nvc_frame_info *f = calloc(1, sizeof(*f));
    CHECK(f != NULL);
    size_t need = 0;
    if (f)
        CHECK_EQ_INT(nvc_stream_parse_frame_header(&p, NULL, 0, &need, f), NVC_EAGAIN);
    free(f);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
        return write_corpus(argv[2]);
    snprintf(tmp_dir, sizeof tmp_dir, "%s/nvc-test-stream-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_crc();
    test_empty_input();
    test_header_bounds();
    test_frame_bounds();
    test_compact_frame_header();
    test_roundtrip_and_truncation();
    test_corruption();
    test_index_and_seek();
    test_writer();
    test_find_sync();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "%s %s", getenv("KEEP") ? "echo" : "rm -rf", tmp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_dir);
    TEST_DONE();
}

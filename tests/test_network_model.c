/* .nvm loader and interpreter on wrong input: truncated, bit-flipped (checksum caught), mutated with
 * a recomputed checksum (validation caught, or a model that runs without crashing), foreign files,
 * newer versions, bad run-time inputs. Uses the seed models in tests/fuzz/corpus/fuzz_nvm/ (written by
 * tools/train/nvcint.py --make-tiny), and one-conv models written here for the rules of conv2d with an
 * addend (docs/nvm.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "codec/cpu.h"
#include "codec/crc32.h"
#include "network/model.h"
#include "nvc/nvc.h"
#include "testutil.h"

#define TINY "tests/fuzz/corpus/fuzz_nvm/tiny1.nvm"

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = malloc(1 << 20);
    *size = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    return buf;
}

static void fix_crc(uint8_t *buf, size_t size)
{
    if (size < 64)
        return;
    const uint32_t crc = nvc_crc32(nvc_crc32(0, buf, 36), buf + 40, size - 40);
    for (int i = 0; i < 4; i++)
        buf[36 + i] = (uint8_t)(crc >> (8 * i));
}

/* A one-op model: graph "g", inputs "x" (c_in channels, zp 3) and, when c_addend > 0, "p" (c_addend
 * channels, zp zp_addend); one conv2d of x, k x k, stride 1, with n_in inputs (1, or 2 with the addend p)
 * and n_arrays arrays: w (all `weight`), bias (bias[] per channel), M = 1, S = 1, and A[] as the fifth;
 * output "y". Written as docs/nvm.md says (64-byte aligned arrays, zstd data, CRC). Returns the size. */
typedef struct conv_model {
    int c_in, c_out, k, c_addend, zp_addend, n_in, n_arrays, weight;
    int32_t bias[4], A[4];
} conv_model;

static size_t put32(uint8_t *p, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[at + i] = (uint8_t)(v >> (8 * i));
    return at + 4;
}

static size_t put_str(uint8_t *p, size_t at, const char *str)
{
    const size_t n = strlen(str);
    p[at] = (uint8_t)n;
    p[at + 1] = 0;
    memcpy(p + at + 2, str, n);
    return at + 2 + n;
}

static size_t make_conv_model(const conv_model *cm, uint8_t *file, size_t cap)
{
    uint8_t graph[1024], data[256 + 4 * 64] = { 0 }; /* w, then bias, M, S, A 64 bytes apart */
    const int kk = cm->c_in * cm->k * cm->k, c = cm->c_out;
    CHECK(c <= 4 && (size_t)c * kk <= 256);
    memset(data, (uint8_t)cm->weight, (size_t)c * kk);
    for (int o = 0; o < c; o++) {
        put32(data, 256 + 4 * o, (uint32_t)cm->bias[o]);
        put32(data, 320 + 4 * o, 1); /* M */
        put32(data, 384 + 4 * o, 1); /* S */
        put32(data, 448 + 4 * o, (uint32_t)cm->A[o]);
    }
    size_t g = put32(graph, 0, 0); /* no blobs */
    g = put32(graph, g, 1);
    g = put_str(graph, g, "g");
    g = put32(graph, g, cm->c_addend ? 2 : 1);
    g = put_str(graph, g, "x");
    g = put32(graph, g, (uint32_t)cm->c_in);
    g = put32(graph, g, 3);
    if (cm->c_addend) {
        g = put_str(graph, g, "p");
        g = put32(graph, g, (uint32_t)cm->c_addend);
        g = put32(graph, g, (uint32_t)cm->zp_addend);
    }
    g = put32(graph, g, 1); /* one op */
    g = put32(graph, g, 1); /* conv2d */
    g = put32(graph, g, (uint32_t)cm->n_in);
    for (int i = 0; i < cm->n_in; i++)
        g = put32(graph, g, (uint32_t)(i && cm->c_addend)); /* x, then p */
    g = put32(graph, g, (uint32_t)c);
    g = put32(graph, g, 100); /* zp_out */
    const uint32_t params[6] = { (uint32_t)cm->k, 1, 0, 100, 0, 255 };
    g = put32(graph, g, 6);
    for (int i = 0; i < 6; i++)
        g = put32(graph, g, params[i]);
    g = put32(graph, g, (uint32_t)cm->n_arrays);
    for (int i = 0; i < cm->n_arrays; i++) {
        g = put32(graph, g, (uint32_t)(i ? 192 + 64 * i : 0));
        g = put32(graph, g, (uint32_t)(i ? 4 * c : c * kk));
    }
    g = put32(graph, g, 1); /* one output: the conv */
    g = put_str(graph, g, "y");
    g = put32(graph, g, cm->c_addend ? 2 : 1);
    CHECK(g <= sizeof(graph) && 64 + g < cap);
    const size_t clen = ZSTD_compress(file + 64 + g, cap - 64 - g, data, sizeof(data), 3);
    CHECK(!ZSTD_isError(clen));
    memset(file, 0, 64);
    memcpy(file, "NVCMODEL", 8);
    put32(file, 8, 1);
    put32(file, 12, 64);
    put32(file, 24, (uint32_t)g);
    put32(file, 28, (uint32_t)clen);
    put32(file, 32, sizeof(data));
    memcpy(file + 64, graph, g);
    fix_crc(file, 64 + g + clen);
    return 64 + g + clen;
}

/* Loads cm; returns the error, msg the message. */
static int load_conv_model(const conv_model *cm, nvc_model **m, char *msg, size_t msg_size)
{
    uint8_t file[2048];
    const size_t size = make_conv_model(cm, file, sizeof(file));
    return nvc_model_load_memory(file, size, m, msg, msg_size);
}

/* conv2d with an addend: the loader's rules (a fifth array A in int16, the addend's channels, the
 * accumulator bound |bias| + K*255*64 + 255*max|A| < 2^31), the interpreter's size check, and the result
 * of a graph that only passes the addend through. */
static void check_conv_addend(void)
{
    char msg[256];
    nvc_model *m;
    /* 1x1 conv of 3 channels -> 2 with zero weights: acc = bias + A * (p - zp_addend), M = 1, S = 1 */
    const conv_model good = { .c_in = 3, .c_out = 2, .k = 1, .c_addend = 2, .zp_addend = 50, .n_in = 2, .n_arrays = 5,
                              .bias = { 0, 1 }, .A = { 2, -32768 } };
    CHECK_EQ_INT(load_conv_model(&good, &m, msg, sizeof(msg)), 0);
    if (m) {
        const nvc_net_graph *g = nvc_model_graph(m, "g");
        CHECK(g && g->n_ops == 1 && g->ops[0].n_in == 2 && g->ops[0].A != NULL);
        nvc_tensor in[2] = { { 0 } }, out[1] = { { 0 } };
        nvc_tensor_alloc(&in[0], 3, 3, 5, 3);
        nvc_tensor_alloc(&in[1], 2, 3, 5, 50);
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 5; x++) {
                nvc_tensor_px(&in[1], y, x)[0] = (uint8_t)(40 + 3 * x + y);
                nvc_tensor_px(&in[1], y, x)[1] = (uint8_t)(49 + x % 2);
            }
        for (unsigned mask = 0; mask <= 1; mask++) { /* the reference, and the SIMD kernels if any */
            nvc_cpu_set_mask(mask ? ~0u : 0);
            CHECK_EQ_INT(nvc_net_run(m, "g", in, 2, out, 1, 0, NULL), 0);
            for (int y = 0; y < 3 && out[0].data; y++)
                for (int x = 0; x < 5; x++) {
                    /* channel 0: 100 + ((2 * (p - 50) + 1) >> 1) = p + 50; channel 1: acc 1 - 32768 * (p - 50)
                     * -> 100 + ((acc + 1) >> 1): 101 for p = 50, clamped to 255 for p = 49 */
                    CHECK_EQ_INT(nvc_tensor_px(&out[0], y, x)[0], 40 + 3 * x + y + 50);
                    CHECK_EQ_INT(nvc_tensor_px(&out[0], y, x)[1], x % 2 ? 101 : 255);
                }
        }
        nvc_cpu_set_mask(~0u);
        nvc_tensor_alloc(&in[1], 2, 3, 4, 50); /* the addend must have the output's size */
        CHECK_EQ_INT(nvc_net_run(m, "g", in, 2, out, 1, 0, NULL), NVC_EINVAL);
        nvc_tensor_alloc(&in[1], 2, 4, 5, 50);
        CHECK_EQ_INT(nvc_net_run(m, "g", in, 2, out, 1, 0, NULL), NVC_EINVAL);
        for (int i = 0; i < 2; i++)
            nvc_tensor_release(&in[i]);
        nvc_tensor_release(&out[0]);
        nvc_model_free(m);
    }
    /* the plain conv of the same file format still loads */
    conv_model cm = good;
    cm.c_addend = 0;
    cm.n_in = 1;
    cm.n_arrays = 4;
    CHECK_EQ_INT(load_conv_model(&cm, &m, msg, sizeof(msg)), 0);
    nvc_model_free(m);
    /* array counts: an addend needs A, no addend no A */
    cm = good;
    cm.n_arrays = 4;
    CHECK_EQ_INT(load_conv_model(&cm, &m, msg, sizeof(msg)), NVC_EMODEL);
    CHECK(m == NULL && strstr(msg, "wrong number") != NULL);
    cm.n_in = 1;
    cm.n_arrays = 5;
    CHECK_EQ_INT(load_conv_model(&cm, &m, msg, sizeof(msg)), NVC_EMODEL);
    CHECK(m == NULL && strstr(msg, "wrong number") != NULL);
    /* A in [-32768, 32767] */
    cm = good;
    cm.A[1] = 32767;
    CHECK_EQ_INT(load_conv_model(&cm, &m, msg, sizeof(msg)), 0);
    nvc_model_free(m);
    for (int i = 0; i < 2; i++) {
        cm.A[1] = i ? -32769 : 32768;
        CHECK_EQ_INT(load_conv_model(&cm, &m, msg, sizeof(msg)), NVC_EMODEL);
        CHECK(m == NULL && strstr(msg, "conv2d A") != NULL);
    }
    /* the addend has the output's channel count */
    cm = good;
    cm.c_addend = 3;
    CHECK_EQ_INT(load_conv_model(&cm, &m, msg, sizeof(msg)), NVC_EMODEL);
    CHECK(m == NULL && strstr(msg, "addend of 3 channels") != NULL);
    /* the bias bound: K = 3 * 5 * 5, max |A| = 32768 over all channels (channel 0's own A is 0) */
    cm = good;
    cm.k = 5;
    cm.weight = 64;
    cm.A[0] = 0;
    const int32_t bound = (int32_t)(INT32_MAX - 3 * 25 * 255 * 64 - 255 * 32768);
    for (int neg = 0; neg < 2; neg++) {
        cm.bias[0] = neg ? -bound : bound;
        CHECK_EQ_INT(load_conv_model(&cm, &m, msg, sizeof(msg)), 0);
        nvc_model_free(m);
        cm.bias[0] = neg ? -bound - 1 : bound + 1;
        CHECK_EQ_INT(load_conv_model(&cm, &m, msg, sizeof(msg)), NVC_EMODEL);
        CHECK(m == NULL && strstr(msg, "could overflow") != NULL);
    }
    /* more inputs than an addend */
    cm = good;
    cm.n_in = 3;
    CHECK_EQ_INT(load_conv_model(&cm, &m, msg, sizeof(msg)), NVC_EMODEL);
    CHECK(m == NULL && strstr(msg, "wrong number") != NULL);
}

/* Runs every graph of m on inputs of 8x8 (motion-like inputs get what fits) at two qualities;
 * returns how many runs succeeded. Results are not checked, only that nothing crashes. */
static int run_all(const nvc_model *m, const char *const *names, int n_names)
{
    int ok = 0;
    for (int gi = 0; gi < n_names; gi++) {
        const nvc_net_graph *g = nvc_model_graph(m, names[gi]);
        if (!g)
            continue;
        nvc_tensor in[64] = { { 0 } }, out[64] = { { 0 } };
        int hs[64], ws[64];
        for (int i = 0; i < g->n_inputs; i++) {
            hs[i] = ws[i] = g->inputs[i].c == 6 || g->inputs[i].c == 3 ? 8 : 4;
            nvc_tensor_alloc(&in[i], g->inputs[i].c, hs[i], ws[i], g->inputs[i].zp);
            for (int y = 0; y < hs[i]; y++)
                for (int x = 0; x < ws[i]; x++)
                    for (int c = 0; c < g->inputs[i].c; c++)
                        nvc_tensor_px(&in[i], y, x)[c] = (uint8_t)(x * 37 + y * 11 + c * 101);
        }
        int64_t bytes;
        const int64_t macs = nvc_net_graph_cost(g, hs, ws, &bytes);
        if (macs >= 0 && macs < 50000000 && bytes < (64 << 20))
            for (int q = 0; q < 64; q += 63)
                ok += nvc_net_run_graph(g, in, g->n_inputs, out, g->n_outputs, q, NULL) == 0;
        for (int i = 0; i < 64; i++) {
            nvc_tensor_release(&in[i]);
            nvc_tensor_release(&out[i]);
        }
    }
    return ok;
}

int main(void)
{
    size_t size = 0;
    uint8_t *good = read_file(TINY, &size);
    CHECK(good != NULL && size > 200);
    if (!good)
        TEST_DONE();
    char msg[256];
    nvc_model *m = NULL;
    static const char *const names[] = { "g", "tiny2" };

    /* the good file */
    CHECK_EQ_INT(nvc_model_load_file(TINY, &m, msg, sizeof(msg)), 0);
    CHECK(m != NULL);
    if (m) {
        CHECK(nvc_model_id(m) == 0x4E5643544E590001ull);
        size_t bs = 0;
        const uint8_t *blob = nvc_model_blob(m, "gains", &bs);
        CHECK(blob && bs == 64 && blob[63] == 63);
        CHECK(nvc_model_blob(m, "nope", &bs) == NULL && bs == 0);
        CHECK(nvc_model_graph(m, "g") && nvc_model_graph(m, "tiny2") && !nvc_model_graph(m, "G"));
        CHECK_EQ_INT(run_all(m, names, 2), 3); /* "g" has 2 quality rows: quality 63 is refused */
        /* bad run-time inputs */
        const nvc_net_graph *g = nvc_model_graph(m, "g");
        nvc_tensor in[3] = { { 0 } }, out[3] = { { 0 } };
        nvc_tensor_alloc(&in[0], 6, 8, 8, 128);
        nvc_tensor_alloc(&in[1], 2, 4, 4, 128);
        nvc_tensor_alloc(&in[2], 4, 4, 4, 128);
        CHECK_EQ_INT(nvc_net_run(m, "g", in, 3, out, 3, 1, NULL), 0);
        CHECK_EQ_INT(nvc_net_run(m, "nope", in, 3, out, 3, 5, NULL), NVC_EMODEL);
        CHECK_EQ_INT(nvc_net_run(m, "g", in, 2, out, 3, 5, NULL), NVC_EINVAL);
        CHECK_EQ_INT(nvc_net_run(m, "g", in, 3, out, 3, 64, NULL), NVC_EINVAL);
        CHECK_EQ_INT(nvc_net_run(m, "g", in, 3, out, 3, 2, NULL), NVC_EINVAL); /* scale_channels has 2 rows */
        nvc_tensor_alloc(&in[1], 2, 4, 6, 128); /* motion not 1/4 of the luma size */
        CHECK_EQ_INT(nvc_net_run_graph(g, in, 3, out, 3, 1, NULL), NVC_EINVAL);
        nvc_tensor_alloc(&in[1], 2, 4, 4, 127); /* wrong zero point */
        CHECK_EQ_INT(nvc_net_run_graph(g, in, 3, out, 3, 1, NULL), NVC_EINVAL);
        nvc_tensor_alloc(&in[1], 2, 4, 4, 128);
        nvc_tensor_alloc(&in[0], 6, 6, 8, 128); /* space_to_depth of a 3-row tensor */
        nvc_tensor_alloc(&in[1], 2, 3, 4, 128);
        nvc_tensor_alloc(&in[2], 4, 3, 4, 128);
        CHECK_EQ_INT(nvc_net_run_graph(g, in, 3, out, 3, 1, NULL), NVC_EINVAL);
        for (int i = 0; i < 3; i++) {
            nvc_tensor_release(&in[i]);
            nvc_tensor_release(&out[i]);
        }
        nvc_model_free(m);
    }

    /* every truncation */
    for (size_t n = 0; n < size; n++) {
        const int err = nvc_model_load_memory(good, n, &m, msg, sizeof(msg));
        CHECK_EQ_INT(err, NVC_EMODEL);
        CHECK(m == NULL && msg[0]);
    }
    /* every single-bit flip is caught (checksum, or header checks for the header) */
    uint8_t *buf = malloc(size);
    unsigned long long rs = 1;
    for (size_t i = 0; i < size; i++) {
        memcpy(buf, good, size);
        buf[i] ^= (uint8_t)(1 << (test_rand(&rs) % 8));
        const int err = nvc_model_load_memory(buf, size, &m, msg, sizeof(msg));
        CHECK(err == NVC_EMODEL || err == NVC_EUNSUPPORTED);
        CHECK(m == NULL);
    }
    /* mutations past the checksum: the validator must reject or produce a model that runs safely */
    int loaded = 0, rejected = 0;
    for (int trial = 0; trial < 3000; trial++) {
        memcpy(buf, good, size);
        const int flips = 1 + (int)(test_rand(&rs) % 3);
        for (int f = 0; f < flips; f++) {
            const size_t at = 64 + test_rand(&rs) % (size - 64);
            if (test_rand(&rs) % 2)
                buf[at] ^= (uint8_t)(1 << (test_rand(&rs) % 8));
            else
                buf[at] = (uint8_t)test_rand(&rs);
        }
        fix_crc(buf, size);
        if (nvc_model_load_memory(buf, size, &m, msg, sizeof(msg)) == 0) {
            loaded++;
            run_all(m, names, 2);
            nvc_model_free(m);
        } else {
            rejected++;
            CHECK(m == NULL && msg[0]);
        }
    }
    printf("mutated models: %d rejected, %d loaded and ran\n", rejected, loaded);
    CHECK(rejected > 1000);
    /* a newer format version is "unsupported", not "corrupt" */
    memcpy(buf, good, size);
    buf[8] = 2;
    fix_crc(buf, size);
    CHECK_EQ_INT(nvc_model_load_memory(buf, size, &m, msg, sizeof(msg)), NVC_EUNSUPPORTED);
    /* foreign and missing files */
    static const uint8_t png[64] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    CHECK_EQ_INT(nvc_model_load_memory(png, sizeof(png), &m, msg, sizeof(msg)), NVC_EMODEL);
    CHECK(strstr(msg, "not an .nvm") != NULL);
    CHECK_EQ_INT(nvc_model_load_memory(NULL, 0, &m, msg, sizeof(msg)), NVC_EMODEL);
    CHECK_EQ_INT(nvc_model_load_file("/nonexistent/model.nvm", &m, msg, sizeof(msg)), NVC_EIO);
    CHECK(strstr(msg, "/nonexistent/model.nvm") != NULL);
    /* trailing garbage */
    uint8_t *longer = malloc(size + 1);
    memcpy(longer, good, size);
    longer[size] = 0;
    CHECK_EQ_INT(nvc_model_load_memory(longer, size + 1, &m, msg, sizeof(msg)), NVC_EMODEL);
    free(longer);
    /* the embedded default model: present and valid (make embeds models/default.nvm when it exists, and
     * `make check` builds first), or a clear "none" */
    const int derr = nvc_model_load_default(&m, msg, sizeof(msg));
    CHECK(derr == 0 || (derr == NVC_EMODEL && msg[0]));
    if (access("models/default.nvm", R_OK) == 0)
        CHECK_EQ_INT(derr, 0);
    if (!derr) {
        CHECK(m != NULL);
        nvc_model_free(m);
    }
    free(buf);
    free(good);
    check_conv_addend();
    TEST_DONE();
}

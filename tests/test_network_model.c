/* .nvm loader and interpreter on wrong input: truncated, bit-flipped (checksum caught), mutated with
 * a recomputed checksum (validation caught, or a model that runs without crashing), foreign files,
 * newer versions, bad run-time inputs. Uses the seed models in tests/fuzz/corpus/fuzz_nvm/ (written by
 * tools/train/nvcint.py --make-tiny). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    TEST_DONE();
}

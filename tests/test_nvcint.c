/* The C engine against the numpy mirror (tools/train/nvcint.py): random graphs using every op, built
 * and run in Python, must give bit-identical outputs in C with the scalar and AVX2 kernels and with
 * 1 and 3 threads. Skips (77) without /usr/bin/python3 + numpy.
 * Usage: test_nvcint [DIR [GRAPH]]: with DIR, checks DIR/case.nvm + DIR/case.bin made by
 *   python3 tools/train/nvcint.py --make-case DIR SEED                       (graph "g"), or
 *   python3 tools/train/nvcint.py --graph-case MODEL GRAPH HxW,... DIR SEED  (any graph of a real model) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/cpu.h"
#include "network/model.h"
#include "nvc/nvc.h"
#include "testutil.h"

typedef struct {
    uint32_t c, h, w, zp;
    uint8_t *chw;
} raw_tensor;

static int read_u32(FILE *f, uint32_t *v)
{
    return fread(v, 4, 1, f) == 1;
}

static int read_raw(FILE *f, raw_tensor *t)
{
    if (!read_u32(f, &t->c) || !read_u32(f, &t->h) || !read_u32(f, &t->w) || !read_u32(f, &t->zp) ||
        t->c > 4096 || t->h > 4096 || t->w > 4096)
        return 0;
    const size_t n = (size_t)t->c * t->h * t->w;
    t->chw = malloc(n ? n : 1);
    return t->chw && fread(t->chw, 1, n, f) == n;
}

static void check_case(const char *dir, const char *graph)
{
    char path[4096], msg[256];
    snprintf(path, sizeof(path), "%s/case.nvm", dir);
    nvc_model *m;
    const int lerr = nvc_model_load_file(path, &m, msg, sizeof(msg));
    CHECK_EQ_INT(lerr, 0);
    if (lerr) {
        fprintf(stderr, "%s\n", msg);
        return;
    }
    size_t blob_size;
    if (!strcmp(graph, "g"))
        CHECK(nvc_model_blob(m, "meta", &blob_size) && blob_size > 0);
    snprintf(path, sizeof(path), "%s/case.bin", dir);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) {
        nvc_model_free(m);
        return;
    }
    uint32_t quality = 0, n_in = 0, n_out = 0;
    raw_tensor rin[8] = { { 0 } }, rout[16] = { { 0 } };
    int ok = read_u32(f, &quality) && read_u32(f, &n_in) && n_in <= 8;
    for (uint32_t i = 0; ok && i < n_in; i++)
        ok = read_raw(f, &rin[i]);
    ok = ok && read_u32(f, &n_out) && n_out <= 16;
    for (uint32_t i = 0; ok && i < n_out; i++)
        ok = read_raw(f, &rout[i]);
    fclose(f);
    CHECK(ok);
    nvc_tensor in[8] = { { 0 } };
    for (uint32_t i = 0; ok && i < n_in; i++) {
        CHECK_EQ_INT(nvc_tensor_alloc(&in[i], (int)rin[i].c, (int)rin[i].h, (int)rin[i].w, (int)rin[i].zp), 0);
        nvc_tensor_from_chw(&in[i], rin[i].chw);
    }
    static const struct { unsigned mask; int threads; } configs[] = { { 0, 1 }, { ~0u, 1 }, { ~0u, 3 }, { 0, 2 } };
    for (size_t cfg = 0; ok && cfg < sizeof(configs) / sizeof(configs[0]); cfg++) {
        nvc_cpu_set_mask(configs[cfg].mask);
        nvc_pool *pool = configs[cfg].threads > 1 ? nvc_pool_create(configs[cfg].threads) : NULL;
        nvc_tensor out[16] = { { 0 } };
        const int err = nvc_net_run(m, graph, in, (int)n_in, out, (int)n_out, (int)quality, pool);
        CHECK_EQ_INT(err, 0);
        for (uint32_t j = 0; !err && j < n_out; j++) {
            CHECK_EQ_INT(out[j].c, rout[j].c);
            CHECK_EQ_INT(out[j].h, rout[j].h);
            CHECK_EQ_INT(out[j].w, rout[j].w);
            CHECK_EQ_INT(out[j].zp, rout[j].zp);
            if (out[j].c != (int)rout[j].c || out[j].h != (int)rout[j].h || out[j].w != (int)rout[j].w)
                continue;
            const size_t n = (size_t)rout[j].c * rout[j].h * rout[j].w;
            uint8_t *got = malloc(n);
            nvc_tensor_to_chw(&out[j], got);
            size_t bad = 0, first = 0;
            for (size_t k = 0; k < n; k++)
                if (got[k] != rout[j].chw[k] && !bad++)
                    first = k;
            if (bad)
                fprintf(stderr, "%s: output %u, cpu mask %x, %d threads: %zu of %zu values differ, first at "
                        "%zu: %d vs %d\n", dir, j, configs[cfg].mask, configs[cfg].threads, bad, n, first,
                        got[first], rout[j].chw[first]);
            CHECK_EQ_INT(bad, 0);
            free(got);
        }
        for (uint32_t j = 0; j < n_out; j++)
            nvc_tensor_release(&out[j]);
        nvc_pool_destroy(pool);
    }
    nvc_cpu_set_mask(~0u);
    for (uint32_t i = 0; i < 8; i++) {
        nvc_tensor_release(&in[i]);
        free(rin[i].chw);
    }
    for (uint32_t i = 0; i < 16; i++)
        free(rout[i].chw);
    nvc_model_free(m);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        check_case(argv[1], argc > 2 ? argv[2] : "g");
        TEST_DONE();
    }
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        printf("skip: /usr/bin/python3 with numpy is needed\n");
        return 77;
    }
    char dir[] = "/tmp/nvc_nvcint_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    for (int seed = 1; seed <= 4; seed++) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "/usr/bin/python3 tools/train/nvcint.py --make-case %s %d", dir, seed);
        const int rc = system(cmd);
        CHECK_EQ_INT(rc, 0);
        if (rc == 0)
            check_case(dir, "g");
    }
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    TEST_DONE();
}

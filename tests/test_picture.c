/* Picture buffers: alignment, plane layout, reference counting across threads, size checks; default settings. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "codec/picture.h"
#include "nvc/nvc.h"
#include "testutil.h"

static void *drop_ref(void *arg)
{
    nvc_picture_unref(arg);
    return NULL;
}

int main(void)
{
    nvc_picture pic;
    static const int sizes[][2] = {{2, 2}, {64, 64}, {350, 288}, {1280, 720}, {8192, 2}};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int w = sizes[i][0], h = sizes[i][1];
        CHECK_EQ_INT(nvc_picture_alloc(&pic, w, h), 0);
        CHECK_EQ_INT(pic.width, w);
        CHECK_EQ_INT(pic.height, h);
        for (int p = 0; p < 3; p++) {
            CHECK(((uintptr_t)pic.data[p] & (NVC_PICTURE_ALIGN - 1)) == 0);
            CHECK(pic.stride[p] % NVC_PICTURE_ALIGN == 0);
            CHECK(pic.stride[p] >= (p ? w / 2 : w));
        }
        /* Every byte of every plane, plus the permitted over-read, is writable (ASan checks the bounds) and the
         * planes do not overlap. */
        int ph[3] = {h, h / 2, h / 2};
        for (int p = 0; p < 3; p++)
            memset(pic.data[p], p + 1, (size_t)pic.stride[p] * ph[p] + NVC_PICTURE_OVERREAD);
        CHECK(pic.data[0][(size_t)pic.stride[0] * h - 1] == 1);
        CHECK(pic.data[1][(size_t)pic.stride[1] * (h / 2) - 1] == 2);
        CHECK(pic.data[2][0] == 3);
        nvc_picture_unref(&pic);
        CHECK(pic.data[0] == NULL && pic.priv == NULL);
    }
    CHECK_EQ_INT(nvc_picture_alloc(&pic, 3, 2), NVC_EINVAL);
    CHECK_EQ_INT(nvc_picture_alloc(&pic, 2, 0), NVC_EINVAL);
    CHECK_EQ_INT(nvc_picture_alloc(&pic, 8194, 2), NVC_EINVAL);
    CHECK(pic.priv == NULL);
    nvc_picture_unref(&pic); /* a cleared picture: no-op */
    nvc_picture_unref(NULL);

    /* References: dropped on other threads, the buffer lives until the last one (ASan would see a use after
     * free otherwise). */
    CHECK_EQ_INT(nvc_picture_alloc(&pic, 64, 32), 0);
    pic.frame_number = 7;
    memset(pic.data[0], 0x5a, 64);
    enum { NREFS = 8 };
    nvc_picture refs[NREFS];
    pthread_t threads[NREFS];
    for (int i = 0; i < NREFS; i++) {
        nvc_picture_ref(&refs[i], &pic);
        CHECK(refs[i].data[0] == pic.data[0] && refs[i].frame_number == 7);
    }
    nvc_picture_unref(&pic);
    for (int i = 0; i < NREFS - 1; i++)
        CHECK_EQ_INT(pthread_create(&threads[i], NULL, drop_ref, &refs[i]), 0);
    for (int i = 0; i < NREFS - 1; i++)
        pthread_join(threads[i], NULL);
    CHECK(refs[NREFS - 1].data[0][63] == 0x5a);
    nvc_picture_unref(&refs[NREFS - 1]);

    nvc_settings s;
    memset(&s, 0xff, sizeof s);
    nvc_default_settings(&s);
    CHECK(s.n_threads == 0 && s.max_frame_delay == 0 && s.model_data == NULL && s.logger != NULL);
    nvc_enc_settings es;
    nvc_enc_default_settings(&es);
    CHECK(es.quality >= 0 && es.quality <= 63 && es.gop_length > 0 && es.fps_num > 0 && es.fps_den > 0);
    TEST_DONE();
}

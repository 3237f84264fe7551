/* nvcinfo: prints an .nvc stream's header, its frames (type, quality, offset, sizes, substreams), the I-frame
 * index and a summary; reports damaged frames and goes on after them.
 *   nvcinfo [-q] [-v] FILE|-     -q: header and summary only; -v: also every substream's size
 *                                (size:lanes in format 2.2)
 * Exit status: 0 the stream is intact, 1 damage or an error was found, 2 usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/stream.h"

static void usage(void)
{
    fprintf(stderr, "usage: nvcinfo [-q] [-v] FILE.nvc|-\n"
                    "  -q  header and summary only\n"
                    "  -v  also list every substream's size (size:rANS lanes from format 2.2 on)\n");
}

static void print_header(const char *path, const nvc_stream_header *h)
{
    printf("file         %s\n", path);
    printf("format       %u.%u (header %u bytes)\n", h->version_major, h->version_minor, h->header_size);
    printf("picture      %ux%u, %s, %u-bit\n", h->width, h->height, h->chroma_format == 1 ? "4:2:0" : "?",
           h->bit_depth);
    printf("frame rate   %u/%u (%.3f fps)\n", h->fps_num, h->fps_den, (double)h->fps_num / h->fps_den);
    printf("colour       primaries %u, transfer %u, matrix %u, %s range (H.273 codes)\n", h->colour_primaries,
           h->transfer, h->matrix, h->full_range ? "full" : "limited");
    printf("model        id 0x%08x \"%s\"\n", h->model_id, h->model_name);
    if (h->gop_length)
        printf("gop          %u\n", h->gop_length);
    else
        printf("gop          not fixed\n");
    if (h->frame_count == NVC_STREAM_FRAME_COUNT_UNKNOWN)
        printf("frame count  unknown\n");
    else
        printf("frame count  %u\n", h->frame_count);
}

/* The frame's kind: I, P, or a P-frame without motion ("P-mv"), without residual ("P-res") or without both
 * ("P-rep": a repeat of the previous picture). */
static const char *frame_kind(const nvc_frame_info *f)
{
    static const char *const p[4] = { "P", "P-mv", "P-res", "P-rep" };
    return f->type == NVC_FRAME_I ? "I" : p[f->flags & 3];
}

static void print_frame(const nvc_frame_info *f, uint64_t offset, int verbose)
{
    printf("%8u  %-5s %3u %10llu %8u %6u  ", f->frame_number, frame_kind(f), f->quality,
           (unsigned long long)offset, f->header_size + f->payload_size, f->header_size);
    for (uint32_t s = 0; s < f->nsegments; s++) {
        uint32_t bytes = 0;
        for (uint32_t i = 0; i < f->nsubstreams[s]; i++)
            bytes += f->substream_size[f->first_substream[s] + i];
        printf("%s%u/%u", s ? " " : "", bytes, f->nsubstreams[s]);
    }
    printf("\n");
    if (verbose)
        for (uint32_t s = 0; s < f->nsegments; s++) {
            printf("          segment %u:", s);
            for (uint32_t i = 0; i < f->nsubstreams[s]; i++) {
                uint32_t size;
                const uint8_t *data = nvc_frame_substream(f, s, i, &size);
                if (f->lanes_signalled && size && data) /* format 2.2: the first byte is the lane count */
                    printf(" %u:%u", size, data[0]);
                else
                    printf(" %u", size);
            }
            printf("\n");
        }
}

/* A format 3.1 coding option's use: n[0] of the I-frames, n[1] of the P-frames with a residual. */
static void print_with_residual(const char *label, const uint64_t n[2], uint64_t iframes, uint64_t residual)
{
    printf("%s %llu of %llu I-frames, %llu of %llu P-frames with a residual\n", label, (unsigned long long)n[0],
           (unsigned long long)iframes, (unsigned long long)n[1], (unsigned long long)residual);
}

int main(int argc, char **argv)
{
    int quiet = 0, verbose = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-q") == 0)
            quiet = 1;
        else if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        } else if (!path && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
            path = argv[i];
        else {
            usage();
            return 2;
        }
    }
    if (!path) {
        usage();
        return 2;
    }
    char msg[256];
    nvc_stream_file *sf;
    int err = nvc_stream_file_open(&sf, path, msg, sizeof msg);
    if (err) {
        fprintf(stderr, "nvcinfo: %s: %s\n", path, msg);
        return 1;
    }
    const nvc_stream_header *h = nvc_stream_file_header(sf);
    print_header(path, h);
    nvc_frame_info *f = malloc(sizeof *f);
    if (!f) {
        fprintf(stderr, "nvcinfo: out of memory\n");
        return 1;
    }
    if (!quiet)
        printf("\n   frame type    q     offset    bytes header  segments (payload bytes/substreams)\n");
    uint64_t kinds[4] = { 0 }; /* P-frames by their flags */
    uint64_t mv_context = 0;   /* P-frames with context-coded vectors (2.3) */
    uint64_t means_context = 0; /* I-frames with context-coded block means (2.3) */
    uint64_t shifted[2] = { 0 }; /* I- and P-frames with scale shifts (3.1) */
    uint64_t fitted[2] = { 0 };  /* I- and P-frames with fitted tables (3.1) */
    uint64_t frames = 0, iframes = 0, bytes = 0, payload = 0, damaged = 0, skipped_bytes = 0, offset;
    uint32_t first = 0, last = 0;
    int status = 0;
    for (;;) {
        err = nvc_stream_file_next_frame(sf, f, &offset);
        if (err == NVC_EOF)
            break;
        if (err == NVC_EINVALDATA) {
            uint64_t skipped = 0;
            printf("damaged: %s\n", nvc_stream_file_error(sf));
            damaged++;
            status = 1;
            int rerr = nvc_stream_file_resync(sf, &skipped);
            skipped_bytes += skipped;
            printf("         skipped %llu bytes%s\n", (unsigned long long)skipped,
                   rerr ? " to the end" : " to the next intact frame");
            if (rerr)
                break;
            continue;
        }
        if (err) {
            fprintf(stderr, "nvcinfo: %s: %s\n", path, nvc_stream_file_error(sf));
            status = 1;
            break;
        }
        if (!frames)
            first = f->frame_number;
        last = f->frame_number;
        frames++;
        iframes += f->type == NVC_FRAME_I;
        kinds[f->type == NVC_FRAME_P ? f->flags & 3 : 0] += f->type == NVC_FRAME_P;
        mv_context += (f->flags & NVC_FRAME_MV_CONTEXT) != 0;
        means_context += (f->flags & NVC_FRAME_MEANS_CONTEXT) != 0;
        shifted[f->type == NVC_FRAME_P] += (f->flags & NVC_FRAME_SCALE_SHIFT) != 0;
        fitted[f->type == NVC_FRAME_P] += (f->flags & NVC_FRAME_FITTED_TABLES) != 0;
        bytes += f->header_size + f->payload_size;
        payload += f->payload_size;
        if (!quiet)
            print_frame(f, offset, verbose);
    }

    const nvc_stream_index *idx;
    int from_trailer;
    err = nvc_stream_file_index(sf, &idx, &from_trailer);
    if (err == 0) {
        printf("\nindex        %u I-frames (%s)\n", idx->count,
               from_trailer ? "from the trailer" : "no trailer: built by scanning the frames");
        if (!from_trailer)
            status = 1;
        if (!quiet && idx->count) {
            printf("            ");
            for (uint32_t i = 0; i < idx->count; i++)
                printf(" %u@%llu%s", idx->entries[i].frame_number, (unsigned long long)idx->entries[i].offset,
                       i % 6 == 5 && i + 1 < idx->count ? "\n            " : "");
            printf("\n");
        }
    } else {
        printf("\nindex        not available: %s\n", nvc_stream_file_error(sf));
    }

    printf("\nframes       %llu (%llu I, %llu P)", (unsigned long long)frames, (unsigned long long)iframes,
           (unsigned long long)(frames - iframes));
    if (frames)
        printf(", numbers %u..%u", first, last);
    printf("\n");
    if (kinds[1] + kinds[2] + kinds[3])
        printf("P-frames     %llu full, %llu without motion, %llu without residual, %llu repeats\n",
               (unsigned long long)kinds[0], (unsigned long long)kinds[1], (unsigned long long)kinds[2],
               (unsigned long long)kinds[3]);
    if (kinds[0] + kinds[2])
        printf("vectors      %llu of %llu P-frames with motion context-coded\n", (unsigned long long)mv_context,
               (unsigned long long)(kinds[0] + kinds[2]));
    if (iframes)
        printf("block means  %llu of %llu I-frames context-coded\n", (unsigned long long)means_context,
               (unsigned long long)iframes);
    if (frames) {
        print_with_residual("scale shifts", shifted, iframes, kinds[0] + kinds[1]);
        print_with_residual("fitted tabs ", fitted, iframes, kinds[0] + kinds[1]);
    }
    if (h->frame_count != NVC_STREAM_FRAME_COUNT_UNKNOWN && h->frame_count != frames && !damaged) {
        printf("             (the header says %u)\n", h->frame_count);
        status = 1;
    }
    printf("bytes        %llu in frames (%llu payload, %llu headers)\n", (unsigned long long)bytes,
           (unsigned long long)payload, (unsigned long long)(bytes - payload));
    if (frames) {
        double kbps = (double)bytes * 8 * h->fps_num / h->fps_den / (double)frames / 1000;
        printf("bitrate      %.1f kbit/s, %.4f bits per pixel\n", kbps,
               (double)bytes * 8 / (double)frames / ((double)h->width * h->height));
    }
    if (damaged)
        printf("damage       %llu damaged frame(s), %llu bytes skipped\n", (unsigned long long)damaged,
               (unsigned long long)skipped_bytes);
    free(f);
    nvc_stream_file_close(sf);
    return status;
}

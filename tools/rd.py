#!/usr/bin/python3
"""make rd: rate-distortion of nvc against x264 and x265 on the evaluation clips.

For each clip (real footage from opencv-doc, native resolution, the first FRAMES frames) it encodes with
  - x264 and x265 through the ffmpeg CLI: -preset medium, no B-frames, GOP 32 (closed, no scene cuts),
    one encode per CRF value;
  - nvc: build/nvenc-ref at several qualities, decoded with build/nvplay -o (the real decoder), twice: "nvc" as
    it encodes by default (adaptive I-frames: a due P-frame is coded as an I-frame where that costs less in
    rate + lambda * distortion, at most 32 frames apart; and adaptive P-frames: motion, residual or both left
    out where that costs less; the frame-level counterparts of the intra and skip blocks x264 and x265 use) and
    "nvc-fixedgop" (--fixed-gop --full-p: an I-frame exactly every 32 frames, as the anchors are run, and every
    P-frame with motion and residual),
and measures bits per pixel (file payload bits / luma pixels) and PSNR of Y, U, V and their 6:1:1 average on the
decoded output against the source (per-frame PSNR averaged over frames). It prints BD-rate of nvc against each
anchor on the 6:1:1 PSNR (Bjontegaard, cubic fit of log-rate over PSNR, integrated over the overlap), and writes
docs/rd.csv and docs/rd.png.

Usage: tools/rd.py [--frames N] [--clips a.avi,b.avi] [--qualities 8,24,40,56] [--out docs] [--work DIR]
                   [--build DIR] [--variants nvc,nvc-fixedgop] [--nvc-args "ARGS"] [--anchors-from CSV]
                   [--compare CSV]

For experiments (an encoder option, another model) on footage that is not the evaluation material:
  - a clip "NAME.avi@N" starts at frame N (e.g. vtest.avi@200, Megamind.avi@130: training footage, see
    docs/model.md "Training data"); its rows are named "vtest@200";
  - --nvc-args passes options to every nvenc-ref run (e.g. "--model other.nvm --i-offset 18"; a --model is
    also given to nvplay);
  - --variants limits the nvc variants; --anchors-from takes the x264/x265 rows of an earlier run's rd.csv
    (same clips and frames) instead of encoding them again;
  - --compare prints the BD-rate of each nvc variant against the same variant and clip in an earlier rd.csv.
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import numpy as np

DATA = "/usr/share/doc/opencv-doc/examples/data"
CLIPS = ["vtest.avi", "Megamind.avi", "tree.avi"]
GOP = 32
# down to the codecs' coarsest setting, so that a young nvc model's low-PSNR curve still overlaps the anchors
X264_CRF = [20, 26, 32, 38, 44, 51]
X265_CRF = [22, 28, 34, 40, 46, 51]
NVC_VARIANTS = [("nvc", []), ("nvc-fixedgop", ["--fixed-gop", "--full-p"])]


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"rd: command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return r.stdout


def probe_size(path):
    out = run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
               "-of", "csv=p=0", path])
    w, h = out.strip().split(",")[:2]
    return int(w), int(h)


def read_yuv420(path, w, h):
    """Frames of a raw yuv420p file as a list of (Y, U, V) uint8 arrays."""
    data = np.fromfile(path, dtype=np.uint8)
    fs = w * h * 3 // 2
    n = data.size // fs
    frames = []
    for i in range(n):
        f = data[i * fs:(i + 1) * fs]
        frames.append((f[:w * h].reshape(h, w), f[w * h:w * h * 5 // 4].reshape(h // 2, w // 2),
                       f[w * h * 5 // 4:].reshape(h // 2, w // 2)))
    return frames


def to_yuv(src, dst):
    run(["ffmpeg", "-v", "error", "-y", "-i", src, "-f", "rawvideo", "-pix_fmt", "yuv420p", dst])


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 100.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def measure(ref_frames, dec_yuv, w, h, nbytes):
    dec = read_yuv420(dec_yuv, w, h)
    if len(dec) != len(ref_frames):
        sys.exit(f"rd: decoded {len(dec)} frames, expected {len(ref_frames)}")
    p = np.array([[psnr(r[c], d[c]) for c in range(3)] for r, d in zip(ref_frames, dec)]).mean(axis=0)
    bpp = nbytes * 8.0 / (w * h * len(ref_frames))
    return bpp, p[0], p[1], p[2], (6 * p[0] + p[1] + p[2]) / 8


def read_csv(path):
    """Rows of an rd.csv as tuples (clip, codec, param, bpp, psnr_y, psnr_u, psnr_v, psnr_yuv611)."""
    with open(path, newline="") as f:
        return [(r["clip"], r["codec"], int(r["param"])) + tuple(float(r[k]) for k in
                ("bpp", "psnr_y", "psnr_u", "psnr_v", "psnr_yuv611")) for r in csv.DictReader(f)]


def curve(rows, clip, codec):
    """(bpp list, 6:1:1 PSNR list) of one codec's rows on one clip."""
    pts = [r for r in rows if r[0] == clip and r[1] == codec]
    return [r[3] for r in pts], [r[7] for r in pts]


def bd_rate(r_anchor, p_anchor, r_test, p_test):
    """Bjontegaard delta rate (%) of test against anchor: cubic fit of log10(rate) as a function of PSNR,
    integrated over the PSNR interval both curves cover. None where the curves do not overlap."""
    if len(r_anchor) < 4 or len(r_test) < 4:
        return None
    la, lt = np.log10(r_anchor), np.log10(r_test)
    pa, pt = np.polyfit(p_anchor, la, 3), np.polyfit(p_test, lt, 3)
    lo, hi = max(min(p_anchor), min(p_test)), min(max(p_anchor), max(p_test))
    if hi <= lo:
        return None
    ia, it = np.polyint(pa), np.polyint(pt)
    avg = ((np.polyval(it, hi) - np.polyval(it, lo)) - (np.polyval(ia, hi) - np.polyval(ia, lo))) / (hi - lo)
    return (10 ** avg - 1) * 100


def encode_ffmpeg(codec, crf, src_y4m, out, w, h):
    common = ["ffmpeg", "-v", "error", "-y", "-i", src_y4m, "-preset", "medium", "-crf", str(crf), "-g", str(GOP)]
    if codec == "x264":
        cmd = common + ["-c:v", "libx264", "-bf", "0", "-keyint_min", str(GOP), "-sc_threshold", "0", out]
    else:
        cmd = common + ["-c:v", "libx265", "-x265-params",
                        f"bframes=0:keyint={GOP}:min-keyint={GOP}:scenecut=0:log-level=error", out]
    run(cmd)


def stream_bytes(path):
    """Bytes of the coded video stream alone (not the container's overhead)."""
    out = run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=size",
               "-of", "csv=p=0", path])
    return sum(int(x) for x in out.split() if x.strip())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--qualities", default="0,16,32,48,63")
    ap.add_argument("--out", default="docs")
    ap.add_argument("--work", default=None)
    ap.add_argument("--build", default="build")
    ap.add_argument("--variants", default=",".join(n for n, _ in NVC_VARIANTS))
    ap.add_argument("--nvc-args", default="", help="extra nvenc-ref options for every nvc encode")
    ap.add_argument("--anchors-from", metavar="CSV", help="x264/x265 rows from this rd.csv instead of encoding")
    ap.add_argument("--compare", metavar="CSV", help="also BD-rate of nvc against the same variant in this rd.csv")
    a = ap.parse_args()
    variants = [(n, x) for n, x in NVC_VARIANTS if n in a.variants.split(",")]
    enc_args = a.nvc_args.split()
    # a model given to the encoder is the decoder's too
    model_args = enc_args[enc_args.index("--model"):enc_args.index("--model") + 2] if "--model" in enc_args else []
    anchors = read_csv(a.anchors_from) if a.anchors_from else None
    work = a.work or tempfile.mkdtemp(prefix="nvc-rd-")
    os.makedirs(work, exist_ok=True)
    enc, dec = os.path.join(a.build, "nvenc-ref"), os.path.join(a.build, "nvplay")
    have_nvc = os.access(enc, os.X_OK) and os.access(dec, os.X_OK)
    if not have_nvc:
        print(f"rd: {enc} or {dec} missing: measuring the anchors only", file=sys.stderr)
    rows = []
    for clip in a.clips.split(","):
        clip, _, start = clip.partition("@")
        path = clip if os.path.isabs(clip) else os.path.join(DATA, clip)
        name = os.path.splitext(os.path.basename(path))[0] + (f"@{int(start)}" if start else "")
        w, h = probe_size(path)
        src = os.path.join(work, f"{name}.y4m")
        cut = ["-vf", f"trim=start_frame={int(start)},setpts=PTS-STARTPTS"] if start else []
        run(["ffmpeg", "-v", "error", "-y", "-i", path] + cut + ["-frames:v", str(a.frames), "-pix_fmt", "yuv420p",
                                                                  src])
        src_yuv = os.path.join(work, f"{name}.yuv")
        to_yuv(src, src_yuv)
        ref = read_yuv420(src_yuv, w, h)
        for codec, crfs in (("x264", X264_CRF), ("x265", X265_CRF)):
            if anchors is not None:
                rows += [r for r in anchors if r[0] == name and r[1] == codec]
                continue
            for crf in crfs:
                out = os.path.join(work, f"{name}_{codec}_{crf}.mkv")
                encode_ffmpeg(codec, crf, src, out, w, h)
                dy = os.path.join(work, "dec.yuv")
                to_yuv(out, dy)
                rows.append((name, codec, crf) + measure(ref, dy, w, h, stream_bytes(out)))
                print("%-10s %-5s %3d  bpp %.4f  PSNR Y %.2f U %.2f V %.2f  YUV %.2f" % rows[-1], flush=True)
        if have_nvc:
            # nvc as it encodes by default (adaptive I-frames: a due P-frame is coded as I where that costs less,
            # at most GOP frames apart), and with an I-frame exactly every GOP frames like the anchors
            for codec, extra in variants:
                for q in [int(x) for x in a.qualities.split(",")]:
                    out = os.path.join(work, f"{name}_{codec}_{q}.nvc")
                    run([enc, "--quality", str(q), "--gop", str(GOP), "--quiet"] + extra + enc_args + [src, "-o", out])
                    dy = os.path.join(work, "dec.y4m")
                    run([dec] + model_args + ["-o", dy, out])
                    to_yuv(dy, os.path.join(work, "dec.yuv"))
                    rows.append((name, codec, q) + measure(ref, os.path.join(work, "dec.yuv"), w, h,
                                                           os.path.getsize(out)))
                    print("%-10s %-5s %3d  bpp %.4f  PSNR Y %.2f U %.2f V %.2f  YUV %.2f" % rows[-1], flush=True)

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "rd.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["clip", "codec", "param", "bpp", "psnr_y", "psnr_u", "psnr_v", "psnr_yuv611"])
        for r in rows:
            wr.writerow([r[0], r[1], r[2]] + ["%.5f" % x for x in r[3:]])

    clips = sorted({r[0] for r in rows})
    summary = []
    nvc_names = [c for c, _ in variants]
    if a.compare:
        earlier = read_csv(a.compare)
        for clip in clips:
            for nv in nvc_names:
                new_c, old_c = curve(rows, clip, nv), curve(earlier, clip, nv)
                if new_c[0] and old_c[0]:
                    bd = bd_rate(*old_c, *new_c)
                    print(f"BD-rate {nv} vs {nv} of {a.compare} on {clip}: " +
                          ("undefined (no overlap)" if bd is None else f"{bd:+.1f}%"))
    for clip in clips:
        curves = {c: curve(rows, clip, c) for c in ["x264", "x265"] + nvc_names}
        for nv in nvc_names:
            if not curves[nv][0]:
                continue
            for anchor in ("x264", "x265"):
                bd = bd_rate(*curves[anchor], *curves[nv])
                summary.append((clip, anchor, bd, nv))
                if bd is not None:
                    print(f"BD-rate {nv} vs {anchor} medium on {clip}: {bd:+.1f}%")
                    continue
                # No PSNR overlap: say how far apart the curves are instead of printing nothing useful.
                nb, np_ = max(zip(curves[nv][1], curves[nv][0]))[::-1]
                ab, ap = min(zip(curves[anchor][1], curves[anchor][0]))[::-1]
                print(f"BD-rate {nv} vs {anchor} medium on {clip}: undefined, the curves do not overlap: nvc's best "
                      f"point is {np_:.2f} dB at {nb:.4f} bpp, {anchor}'s lowest is {ap:.2f} dB at {ab:.4f} bpp")
    for nv in nvc_names:
        for anchor in ("x264", "x265"):
            v = [s[2] for s in summary if s[1] == anchor and s[3] == nv and s[2] is not None]
            if v:
                print(f"BD-rate {nv} vs {anchor} medium, mean over {len(v)} clips with overlap: {np.mean(v):+.1f}%")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("rd: matplotlib missing, no plot", file=sys.stderr)
        return
    fig, axes = plt.subplots(1, len(clips), figsize=(5 * len(clips), 4), squeeze=False)
    for ax, clip in zip(axes[0], clips):
        for codec, style in (("x264", "s-"), ("x265", "^-"), ("nvc", "o-"), ("nvc-fixedgop", "o--")):
            pts = sorted((r[3], r[7]) for r in rows if r[0] == clip and r[1] == codec)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=codec if codec.startswith("nvc") else codec + " medium")
        ax.set_title(clip)
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (log scale)")
        ax.set_ylabel("PSNR YUV 6:1:1 (dB)")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "rd.png"), dpi=100)
    print(f"wrote {a.out}/rd.csv and {a.out}/rd.png")


if __name__ == "__main__":
    main()

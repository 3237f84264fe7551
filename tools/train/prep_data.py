#!/usr/bin/python3
"""Convert the unpacked Debian sources into YUV420 (BT.601 limited range, ffmpeg's default yuv420p) training data.

Writes data/yuv/<split>/<name>_<W>x<H>[_<N>f].yuv (raw planar yuv420p, frames concatenated) and data/manifest.json.
All decoding, scaling (area filter, downscale only) and RGB->YUV conversion is done by the ffmpeg CLI, exactly as
the encoder tool receives its input. Deterministic: same packages -> same files.
"""
import argparse, glob, hashlib, json, os, subprocess, sys
from concurrent.futures import ThreadPoolExecutor

OPENCV = "/usr/share/doc/opencv-doc/examples/data"
# Frames [0, EVAL_FRAMES) of each clip are reserved for `make rd` and never used for training or validation.
EVAL_FRAMES = 128
CLIPS = ["vtest.avi", "Megamind.avi"]   # tree.avi (68 frames) is entirely evaluation material
VAL_FRACTION_CLIP = 0.1                  # last 10% of the remaining frames of each clip: validation
SCALES = [1080, 720, 480]                # target short sides (never upscaled)
MIN_SIDE = 256


def probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height", "-of", "csv=p=0", path], capture_output=True, text=True)
    try:
        w, h = [int(v) for v in out.stdout.strip().split("\n")[0].split(",")[:2]]
        return w, h
    except Exception:
        return None


def photo_sources(data):
    srcs = []
    for f in sorted(glob.glob(OPENCV + "/*.jpg") + glob.glob(OPENCV + "/*.png")):
        srcs.append(("opencv_" + os.path.splitext(os.path.basename(f))[0], f))
    # plasma: one entry per wallpaper (and dark variant), largest resolution only
    for d in sorted(glob.glob(data + "/src/plasma-workspace-wallpapers/usr/share/wallpapers/*/contents/images*")):
        best, barea = None, 0
        for f in glob.glob(d + "/*.png") + glob.glob(d + "/*.jpg"):
            wh = probe(f)
            if wh and wh[0] * wh[1] > barea:
                best, barea = f, wh[0] * wh[1]
        if best:
            name = d.split("/wallpapers/")[1].split("/")[0] + ("_dark" if d.endswith("_dark") else "")
            srcs.append(("plasma_" + name, best))
    for f in sorted(glob.glob(data + "/src/mate-backgrounds/usr/share/backgrounds/mate/*/*")):
        if f.lower().endswith((".jpg", ".png", ".jpeg")):
            srcs.append(("mate_" + os.path.splitext(os.path.basename(f))[0], f))
    for f in sorted(glob.glob(data + "/src/lomiri-wallpapers-20.04/usr/share/backgrounds/*")):
        if f.lower().endswith((".jpg", ".png", ".jpeg")):
            srcs.append(("lomiri_" + os.path.splitext(os.path.basename(f))[0], f))
    return srcs


def split_of(name):
    # deterministic ~1/12 validation split by name hash
    return "val" if int(hashlib.sha1(name.encode()).hexdigest(), 16) % 12 == 0 else "train"


def conv_photo(job):
    name, src, w, h, out = job
    vf = f"scale={w}:{h}:flags=area,format=yuv420p"
    r = subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", src, "-vf", vf, "-frames:v", "1",
                        "-f", "rawvideo", "-pix_fmt", "yuv420p", out + ".tmp"], capture_output=True, text=True)
    if r.returncode != 0 or os.path.getsize(out + ".tmp") != w * h * 3 // 2:
        print("skip", src, r.stderr[-300:], file=sys.stderr)
        return None
    os.replace(out + ".tmp", out)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    a = ap.parse_args()
    ydir = os.path.join(a.data, "yuv")
    for s in ("train", "val"):
        os.makedirs(os.path.join(ydir, s), exist_ok=True)
    manifest = {"eval_frames_reserved": EVAL_FRAMES, "photos": [], "clips": []}
    jobs = []
    for name, src in photo_sources(a.data):
        wh = probe(src)
        if not wh or min(wh) < MIN_SIDE:
            continue
        W, H = wh
        split = split_of(name)
        done = set()
        for S in SCALES:
            f = min(1.0, S / min(W, H))
            w, h = int(W * f) // 2 * 2, int(H * f) // 2 * 2
            if min(w, h) < MIN_SIDE or (w, h) in done:
                continue
            done.add((w, h))
            out = os.path.join(ydir, split, f"{name}_{w}x{h}.yuv")
            jobs.append((name, src, w, h, out))
            manifest["photos"].append({"name": name, "source": src.replace(a.data + "/", "data/"), "split": split,
                                       "file": os.path.relpath(out, a.data), "w": w, "h": h})
    with ThreadPoolExecutor(2) as ex:
        res = list(ex.map(lambda j: j[4] if os.path.exists(j[4]) else conv_photo(j), jobs))
    ok = set(r for r in res if r)
    manifest["photos"] = [p for p in manifest["photos"] if os.path.join(a.data, p["file"]) in ok]

    for clip in CLIPS:
        src = os.path.join(OPENCV, clip)
        W, H = probe(src)
        base = os.path.splitext(clip)[0]
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", src, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
                             capture_output=True, check=True).stdout
        fs = W * H * 3 // 2
        n = len(raw) // fs
        usable = n - EVAL_FRAMES
        nval = max(8, int(usable * VAL_FRACTION_CLIP))
        for split, lo, hi in (("train", EVAL_FRAMES, n - nval), ("val", n - nval, n)):
            out = os.path.join(ydir, split, f"{base}_{W}x{H}_{hi - lo}f.yuv")
            with open(out, "wb") as fo:
                fo.write(raw[lo * fs:hi * fs])
            manifest["clips"].append({"name": base, "source": "opencv-doc:" + clip, "split": split,
                                      "file": os.path.relpath(out, a.data), "w": W, "h": H,
                                      "first_frame": lo, "frames": hi - lo})
    with open(os.path.join(a.data, "manifest.json"), "w") as fo:
        json.dump(manifest, fo, indent=1)
    npx = {s: sum(p["w"] * p["h"] for p in manifest["photos"] if p["split"] == s) for s in ("train", "val")}
    print("photos:", len(manifest["photos"]), "files;", {k: f"{v / 1e6:.1f} Mpx" for k, v in npx.items()})
    for c in manifest["clips"]:
        print("clip", c["name"], c["split"], f"frames {c['first_frame']}..{c['first_frame'] + c['frames'] - 1}")


if __name__ == "__main__":
    main()

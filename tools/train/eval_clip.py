#!/usr/bin/python3
"""Rate-distortion estimate of a checkpoint on a clip (float model with integer means/scale indices; rate = the
model's likelihoods, i.e. an estimate of what the entropy coder writes, without headers). Low delay, GOP 32.

    /usr/bin/python3 tools/train/eval_clip.py CLIP [--frames 60] [--qualities 8,24,40,56] [--ckpt ...]

Frames go through the ffmpeg CLI (yuv420p), are padded to a multiple of 64 by edge replication (as the codec
does) and cropped back before measuring. PSNR per plane is averaged over frames; "yuv" is (6*Y + U + V) / 8.
"""
import argparse, os, subprocess, sys
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model as M  # noqa: E402


def read_clip(path, n):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height", "-of", "csv=p=0", path], capture_output=True, text=True, check=True)
    w, h = [int(v) for v in out.stdout.strip().split(",")[:2]]
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-frames:v", str(n), "-f", "rawvideo",
                          "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout
    fs = w * h * 3 // 2
    frames = []
    for i in range(len(raw) // fs):
        f = np.frombuffer(raw[i * fs:(i + 1) * fs], np.uint8)
        frames.append((f[:w * h].reshape(h, w), f[w * h:w * h * 5 // 4].reshape(h // 2, w // 2),
                       f[w * h * 5 // 4:].reshape(h // 2, w // 2)))
    return w, h, frames


def to_tensor(fr, hp, wp):
    y, u, v = fr
    h, w = y.shape
    y = np.pad(y, ((0, hp - h), (0, wp - w)), mode="edge")
    u = np.pad(u, ((0, (hp - h) // 2), (0, (wp - w) // 2)), mode="edge")
    v = np.pad(v, ((0, (hp - h) // 2), (0, (wp - w) // 2)), mode="edge")
    t = lambda a: torch.from_numpy(a.astype(np.float32) / 255.0)[None, None]
    return M.pack(t(y), t(u), t(v))


def psnr_planes(x, fr):
    y, u, v = M.unpack(x)
    h, w = fr[0].shape
    out = []
    for rec, ref in ((y, fr[0]), (u, fr[1]), (v, fr[2])):
        r = torch.round(rec[0, 0] * 255).clamp(0, 255).numpy()[:ref.shape[0], :ref.shape[1]]
        mse = np.mean((r - ref.astype(np.float64)) ** 2)
        out.append(10 * np.log10(255 ** 2 / max(mse, 1e-10)))
    return out


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--qualities", default="8,24,40,56")
    ap.add_argument("--gop", type=int, default=32)
    ap.add_argument("--ckpt", default=os.path.join(HERE, "checkpoints", "weights.pt"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--x264", action="store_true",
                    help="also encode with x264 medium exactly as tools/rd.py does and print the BD-rate estimate")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ck = torch.load(a.ckpt, map_location="cpu")
    net = M.from_state_dict(ck["model"])
    if ck.get("qat_specs"):
        M.enable_qat(net, ck["qat_specs"])
    net.eval()
    w, h, frames = read_clip(a.clip, a.frames)
    hp, wp = (h + 63) // 64 * 64, (w + 63) // 64 * 64
    print(f"# {os.path.basename(a.clip)} {w}x{h} {len(frames)} frames, checkpoint step {ck.get('step')} "
          f"({ck.get('stage')}), GOP {a.gop}")
    print("quality,bpp,psnr_y,psnr_u,psnr_v,psnr_yuv,bpp_i,bpp_p")
    res = []
    for q in [int(v) for v in a.qualities.split(",")]:
        qq = torch.tensor([q])
        bits, ps, bi, bp, ni = 0.0, [], 0.0, 0.0, 0
        prev = None
        for i, fr in enumerate(frames):
            x = to_tensor(fr, hp, wp)
            if i % a.gop == 0:
                prev, b = net.code_i(x, qq, True)
                bi += b.item()
                ni += 1
            else:
                prev, b, _ = net.code_p(x, prev, qq, quant_params=True)
                bp += b.item()
            # the decoder's output is 8-bit: the next prediction uses the rounded picture
            prev = torch.round(prev * 255) / 255
            bits += b.item()
            ps.append(psnr_planes(prev, fr))
        p = np.mean(ps, axis=0)
        npx = w * h
        res.append((bits / npx / len(frames), (6 * p[0] + p[1] + p[2]) / 8))
        print(f"{q},{bits / npx / len(frames):.5f},{p[0]:.3f},{p[1]:.3f},{p[2]:.3f},"
              f"{(6 * p[0] + p[1] + p[2]) / 8:.3f},{bi / npx / max(ni, 1):.5f},"
              f"{bp / npx / max(len(frames) - ni, 1):.5f}", flush=True)
    if a.x264:
        x264_bd(a.clip, a.frames, res)



def x264_bd(clip, frames, res):
    import tempfile
    sys.path.insert(0, os.path.join(HERE, ".."))
    import rd
    w, h, ref = read_clip(clip, frames)
    with tempfile.TemporaryDirectory() as work:
        src = os.path.join(work, "src.y4m")
        rd.run(["ffmpeg", "-v", "error", "-y", "-i", clip, "-frames:v", str(frames), "-pix_fmt", "yuv420p", src])
        pts = []
        for crf in rd.X264_CRF:
            out = os.path.join(work, f"x264_{crf}.mkv")
            rd.encode_ffmpeg("x264", crf, src, out, w, h)
            dec = os.path.join(work, "dec.yuv")
            rd.to_yuv(out, dec)
            pts.append(rd.measure(ref, dec, w, h, rd.stream_bytes(out)))
            print(f"x264 crf {crf}: bpp {pts[-1][0]:.5f} psnr_yuv {pts[-1][4]:.3f}", flush=True)
    bd = rd.bd_rate([p[0] for p in pts], [p[4] for p in pts], [r[0] for r in res], [r[1] for r in res])
    print(f"BD-rate estimate vs x264 medium: {bd if bd is None else f'{bd:+.1f} %'}")


if __name__ == "__main__":
    main()

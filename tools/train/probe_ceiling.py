#!/usr/bin/python3
"""How much of a picture the I path can represent at all: PSNR of the float model's I-frame at some qualities,
next to the same with the latent not quantised (the transform's ceiling) and the linear path alone, and the
best any linear map of each 16x16 luma block with its chroma (384 samples) to k numbers can do (PCA of the
picture's own blocks, luma PSNR).

    /usr/bin/python3 tools/train/probe_ceiling.py --ckpt CKPT [--yuv data/yuv/train/vtest_768x576_601f.yuv]
                                                 [--size 768x576] [--frames 100,300,500] [--qualities 0,32,63]

The default picture is training material (vtest frames 128.. of data/, never the make-rd frames 0..127). The model
runs in float (a QAT checkpoint's fake quantisation is not switched on): this measures the transform, not int8.
"""
import argparse, math, os, sys
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model as M  # noqa: E402


def load_frame(path, w, h, idx):
    fs = w * h * 3 // 2
    with open(path, "rb") as f:
        f.seek(fs * idx)
        b = np.frombuffer(f.read(fs), np.uint8)
    if b.size != fs:
        sys.exit(f"{path}: no frame {idx} at {w}x{h}")
    t = lambda a: torch.from_numpy(a.astype(np.float32) / 255)[None, None]
    return M.pack(t(b[:w * h].reshape(h, w)), t(b[w * h:w * h * 5 // 4].reshape(h // 2, w // 2)),
                  t(b[w * h * 5 // 4:].reshape(h // 2, w // 2)))


def psnr_y(a, b):
    mse = ((torch.round(a[:, :4] * 255) - torch.round(b[:, :4] * 255)) ** 2).mean().item()
    return 10 * math.log10(255 ** 2 / max(mse, 1e-10))


def pca_bound(xs, ks):
    """Luma PSNR of the best rank-k linear approximation of the 384-sample blocks (centred)."""
    v = torch.cat([F.pixel_unshuffle(x, 8).permute(0, 2, 3, 1).reshape(-1, 384) for x in xs]).double() * 255
    v = v - v.mean(0)
    _, _, vh = torch.linalg.svd(v, full_matrices=False)
    luma = torch.tensor([c // 64 < 4 for c in range(384)])   # space_to_depth(8) of the packed picture
    out = []
    for k in ks:
        e = v - v @ vh[:k].t() @ vh[:k]
        out.append(10 * math.log10(255 ** 2 / (e[:, luma] ** 2).mean().item()))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--yuv", default=os.path.join(HERE, "..", "..", "data", "yuv", "train", "vtest_768x576_601f.yuv"))
    ap.add_argument("--size", default="768x576")
    ap.add_argument("--frames", default="100,300,500")
    ap.add_argument("--qualities", default="0,32,63")
    a = ap.parse_args()
    torch.set_num_threads(1)
    w, h = [int(v) for v in a.size.split("x")]
    ck = torch.load(a.ckpt, map_location="cpu")
    net = M.from_state_dict(ck["model"])
    net.eval()
    xs = [load_frame(a.yuv, w, h, int(i))[:, :, :h // 2 // 8 * 8, :w // 2 // 8 * 8] for i in a.frames.split(",")]
    print(f"# {os.path.basename(a.yuv)} frames {a.frames}, I latent {net.cy} channels, step {ck.get('step')}")
    print("quality,bpp,psnr_y,psnr_y_unquantised,psnr_y_linear_path_only")
    with torch.no_grad():
        for q in [int(v) for v in a.qualities.split(",")]:
            qq = torch.tensor([q])
            r = np.zeros(4)
            for x in xs:
                xr, bits = net.code_i(x, qq, True)
                # the latent as the synthesis would see it without rounding (encoder gain, then decoder gain)
                y = net.i_transform(x - M.XC) * net.i_gain.gain(qq) * net.i_gain.inv_gain(qq)
                full = (net.i_synth(y) + net.i_synth_lin(y) + 0.5).clamp(0, 1)
                lin = (net.i_synth_lin(y) + 0.5).clamp(0, 1)
                r += [bits.item() / (x.shape[2] * x.shape[3] * 4), psnr_y(xr, x), psnr_y(full, x), psnr_y(lin, x)]
            r /= len(xs)
            print(f"{q},{r[0]:.4f},{r[1]:.2f},{r[2]:.2f},{r[3]:.2f}")
    ks = [64, 96, 128, 160, 192, 256]
    print("PCA bound (luma PSNR of the best k-of-384 linear block code): " +
          ", ".join(f"k={k} {p:.2f} dB" for k, p in zip(ks, pca_bound(xs, ks))))


if __name__ == "__main__":
    main()

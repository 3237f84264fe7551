#!/usr/bin/python3
"""How much better the I-frame analysis could do on one frame: optimise that frame's latent y and hyper-latent z
by gradient descent on rate + lambda(q) * distortion through the float model (uniform noise for the rate,
straight-through rounding for the reconstruction, Adam), and print the cost with hard rounding before and during
(the "amortisation gap" of the analysis transform; docs/model.md, "Known problems", session 7).

    /usr/bin/python3 tools/train/probe_amortization.py CLIP FRAME QUALITY [--steps 300] [--lr 0.005]

e.g. /usr/bin/python3 tools/train/probe_amortization.py /usr/share/doc/opencv-doc/examples/data/vtest.avi 300 32
The frame is cropped to a multiple of 64. Float model without QAT's fake quantisation, without the context nets.
"""
import argparse, math, os, sys
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model as M  # noqa: E402
import eval_clip as E  # noqa: E402
import train as T  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("frame", type=int)
    ap.add_argument("quality", type=int)
    ap.add_argument("--ckpt", default=os.path.join(HERE, "checkpoints", "latest.pt"))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=0.005)
    a = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    ck = torch.load(a.ckpt, map_location="cpu")
    w = M.widths_of(ck["model"])
    net = M.NVC(w[0], w[1], ())
    net.load_state_dict(ck["model"], strict=False)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    width, height, frames = E.read_clip(a.clip, a.frame + 1)
    hp, wp = height // 64 * 64, width // 64 * 64
    y_, u_, v_ = frames[a.frame]
    x = E.to_tensor((y_[:hp, :wp], u_[:hp // 2, :wp // 2], v_[:hp // 2, :wp // 2]), hp, wp)
    q = torch.tensor([a.quality])
    lm = M.lmb(a.quality) * 255 ** 2
    hy = net.i_hyper

    def cost(y, z, hard):
        zr = torch.round(z) if hard else M.ste_round(z)
        bz = -torch.log2(hy.prior.likelihood(zr)).sum()
        mean, idx = hy.entropy_params(zr)
        mean, idx = M.ste_round(mean), M.ste_round(idx)
        if hard:
            sym = torch.round(y - mean)
            noisy = sym
        else:
            sym = M.ste_round(y - mean)
            noisy = y - mean + torch.empty_like(y).uniform_(-0.5, 0.5)
        by = -torch.log2(M.gaussian_likelihood(noisy, M.scale_of_index(idx))).sum()
        yd = (sym + mean) * net.i_gain.inv_gain(q)
        xr = (net.i_synth(yd) + net.i_synth_lin(yd) + 0.5).clamp(0, 1)
        return (bz + by) / (hp * wp), T.dist(x, xr)[0].mean()

    def show(tag, y, z):
        with torch.no_grad():
            b, m = cost(y, z, True)
        print(f"{tag}: bpp {b.item():.4f} psnr_yuv {10 * math.log10(1 / m.item()):.2f} "
              f"cost {b.item() + lm * m.item():.4f}", flush=True)

    with torch.no_grad():
        y0 = net.i_transform(x - M.XC) * net.i_gain.gain(q)
        z0 = hy.h_enc(y0)
    show("analysis", y0, z0)
    y, z = y0.clone().requires_grad_(True), z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([y, z], a.lr)
    for it in range(1, a.steps + 1):
        b, m = cost(y, z, False)
        opt.zero_grad()
        (b + lm * m).backward()
        opt.step()
        if it % 100 == 0:
            show(f"step {it}", y, z)


if __name__ == "__main__":
    main()

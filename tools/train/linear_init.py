#!/usr/bin/python3
"""Initialise the linear-transform model (model v2: NVC(linear=True), docs/model.md) from a v1 checkpoint.

    /usr/bin/python3 tools/train/linear_init.py --from CKPT --out tools/train/run8/init.pt [--c 384]

- I latent: the Karhunen-Loeve transform (PCA) of 16x16 luma blocks with their chroma (384 numbers, the
  space_to_depth(8) order of the packed picture) of training crops: analysis = V^T (block mean removed by the
  bias), synthesis = V, an orthonormal pair, so with all C = 384 channels the transform loses nothing.
- Residual latent: the same on frame differences of training sequences (x_t - x_{t-1}): the analysis sees
  (picture, prediction) and starts as V_r^T (picture - prediction).
- Quality gains: for an orthonormal transform at high rate the uniform quantiser step that minimises
  rate + lambda * 255^2 * MSE is step^2 = 12.98 / lambda / 255^2 (the same rule widen.py uses); the gain is
  1 / step, capped per channel so that the 99.99th percentile of the channel stays inside the latent's int8
  range (the block mean and the first gradients would leave it at the top qualities).
- Hyper-decoders: means 0 (zero_mean), scale index of each channel from its spread at q32; the rest fresh.
- Motion path (encoder, hyperprior, synthesis, gains): copied from the v1 checkpoint.
Deterministic (fixed seed).
"""
import argparse, math, os, sys
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model as M  # noqa: E402
import train as T  # noqa: E402


def klt(v):
    """v: (N, D) -> (mean (D,), V (D, D) eigenvectors as columns, by decreasing variance)"""
    v = v.double()
    mu = v.mean(0)
    ev, V = torch.linalg.eigh(torch.cov((v - mu).T))
    return mu.float(), V.flip(1).float()


def init_gains(qg, coef):
    """coef: (N, C) transform coefficients in [0, 1] picture units (no gain)."""
    amax = torch.quantile(coef.abs()[torch.randperm(coef.shape[0])[:200000]], 0.9999, dim=0).clamp_min(1e-4)
    with torch.no_grad():
        for k, a in enumerate(M.ANCHORS):
            g = torch.full_like(amax, 255.0 / math.sqrt(12.98 / M.lmb(a)))
            g = torch.minimum(g, 120.0 / amax)
            qg.log_g[k] = torch.log(g)
            qg.log_ig[k] = -torch.log(g)


def init_scales(hyp, y):
    """the hyper-decoder's scale-index bias from the spread of each channel of y (gained latent)"""
    sd = y.transpose(0, 1).reshape(y.shape[1], -1).std(1)
    idx = torch.round(torch.log(sd.clamp_min(M.SMIN) / M.SMIN) / M.LOG_STEP).clamp(0, M.NSCALES - 1)
    with torch.no_grad():
        hyp.h_dec[-1].bias[hyp.cy:] = idx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--from", dest="src", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=os.path.join(T.ROOT, "data"))
    ap.add_argument("--c", type=int, default=384, help="latent channels (I and residual), at most 384")
    ap.add_argument("--crops", type=int, default=128)
    ap.add_argument("--seed", type=int, default=20261202)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    ck = torch.load(a.src, map_location="cpu")
    net = M.NVC(a.c, a.c, (), linear=True)
    sd = net.state_dict()
    n = 0
    for k, t in ck["model"].items():
        if k.startswith("p_mv_") and ".ctx." not in k:
            sd[k].copy_(t)
            n += 1
    net.load_state_dict(sd)
    print(f"motion path: {n} tensors from {a.src} (step {ck.get('step')})", flush=True)
    data = T.Data(a.data, "train")
    with torch.no_grad():
        xs = torch.cat([data.i_batch(rng, 32, 256, p_video=0.3) for _ in range(a.crops // 32)])
        blk = F.pixel_unshuffle(xs - M.XC, 8).permute(0, 2, 3, 1).reshape(-1, 384)
        mu, V = klt(blk)
        V = V[:, :a.c]
        net.i_analysis_lin.weight.copy_(V.T[:, :, None, None])
        net.i_analysis_lin.bias.copy_(-(V.T @ mu))
        net.i_synth_lin[0].weight.copy_(V[:, :, None, None])
        net.i_synth_lin[0].bias.copy_(mu)
        init_gains(net.i_gain, (blk - mu) @ V)
        seq = torch.cat([data.p_batch(rng, 16, 2, 256) for _ in range(a.crops // 32)])
        rblk = F.pixel_unshuffle(seq[:, 1] - seq[:, 0], 8).permute(0, 2, 3, 1).reshape(-1, 384)
        _, Vr = klt(rblk)
        Vr = Vr[:, :a.c]
        net.p_res_enc_lin.weight.copy_(torch.cat([Vr.T, -Vr.T], 1)[:, :, None, None])
        net.p_res_enc_lin.bias.zero_()
        net.p_res_synth_lin[0].weight.copy_(Vr[:, :, None, None])
        net.p_res_synth_lin[0].bias.zero_()
        init_gains(net.p_res_gain, rblk @ Vr)
        q32 = torch.full((xs.shape[0],), 32)
        init_scales(net.i_hyper, M.clamp_latent(net.i_transform(xs - M.XC) * net.i_gain.gain(q32)))
        xp = torch.cat([seq[:, 1] - M.XC, seq[:, 0] - M.XC], 1)
        init_scales(net.p_res_hyper, M.clamp_latent(net.res_transform(xp) * net.p_res_gain.gain(q32[:seq.shape[0]])))
    net.eval()
    for qv in (0, 32, 63):
        bpp, p = T.i_rd(net, xs[:32], qv)
        print(f"I q{qv}: bpp {bpp:.4f} psnr {p:.2f}", flush=True)
    T.save_init(a.out, net, "linear_init", a.src, ck)


if __name__ == "__main__":
    main()

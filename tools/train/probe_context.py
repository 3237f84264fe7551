#!/usr/bin/python3
"""How much an entropy context could save, before building one (docs/model.md "Entropy context", session 7).

    /usr/bin/python3 tools/train/probe_context.py [--ckpt CKPT] [--train 80] [--val 16] [--steps 3000]

Codes full frames of the training clips (vtest, Megamind: sequences of an I-frame at q+18 and 4 P-frames, every
other one without motion, q uniform) with the checkpoint's float model and keeps each latent's symbols and the
hyper-decoder's scale indices. Then, per latent kind (I, motion, residual) and per variant, trains a small
context net on the training sequences' latents alone (the model frozen: only the rate of the later channels
moves) and prints the change of the whole latent's bits on the validation clips' sequences:
  first8        channels 0..7 first; features relu(v), relu(-v) of their symbols (the shipped ContextNet)
  first8+idx    the same plus the hyper-decoder's indices of all channels as an input
  slices8,24    three slices 8 + 16 + rest, each with a context from all channels before it
Deterministic (fixed seeds); ~10 minutes on the 2-core CPU.
"""
import argparse, os, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model as M  # noqa: E402
import train as T  # noqa: E402


@torch.no_grad()
def collect(net, data, nseq, seed):
    """{kind: [(v, idx) per frame]} with v = rounded symbols y - mean, idx = the hyper-decoder's indices."""
    rng = np.random.default_rng(seed)
    out = {"i": [], "mv": [], "res": []}

    def params(hyp, y):
        mean, idx = hyp.entropy_params(torch.round(hyp.h_enc(y)))
        return torch.round(y - torch.round(mean)), torch.round(idx)

    for s in range(nseq):
        c = data.clips[s % len(data.clips)]
        hp, wp = c.h // 64 * 64, c.w // 64 * 64
        f0 = int(rng.integers(0, c.n - 5))
        q = int(rng.integers(0, M.NQ))
        qq, qi = torch.tensor([q]), torch.tensor([min(M.NQ - 1, q + 18)])
        xs = [M.pack(*[p[None, None] for p in c.planes(f0 + t, 0, 0, wp, hp)]) for t in range(5)]
        out["i"].append(params(net.i_hyper, net.i_transform(xs[0] - M.XC) * net.i_gain.gain(qi)))
        prev, _ = net.code_i(xs[0], qi, True)
        prev = torch.round(prev * 255) / 255
        for t in range(1, 5):
            rec, _, info = net.code_p(xs[t], prev, qq, quant_params=True, no_motion=t % 2 == 0)
            if info["m"] is not None:
                out["mv"].append(params(net.p_mv_hyper, info["m"]))
            out["res"].append(params(net.p_res_hyper, info["r"]))
            prev = torch.round(rec * 255) / 255
    return out


def bits(v, idx):
    return -torch.log2(M.gaussian_likelihood(v, M.scale_of_index(idx)))


def probe(tr, va, bounds, with_idx, steps, hid=32):
    """Trains context nets for slices [bounds[k], bounds[k+1]) (k >= 1) on tr; the change of va's bits (%)."""
    torch.manual_seed(0)
    C = tr[0][0].shape[1]
    bounds = bounds + [C]
    nets = nn.ModuleList()
    for k in range(1, len(bounds)):
        b, n = bounds[k - 1], bounds[k] - bounds[k - 1]
        nt = nn.Sequential(nn.Conv2d(2 * b + (C if with_idx else 0), hid, 3, padding=1), nn.ReLU(),
                           nn.Conv2d(hid, hid, 1), nn.ReLU(), nn.Conv2d(hid, n, 3, padding=1))
        nn.init.zeros_(nt[-1].weight)
        nn.init.zeros_(nt[-1].bias)
        nets.append(nt)
    opt = torch.optim.Adam(nets.parameters(), 1e-3)

    def run(v, idx, hard):
        parts = [idx[:, :bounds[0]]]
        for k, nt in enumerate(nets):
            b, e = bounds[k], bounds[k + 1]
            f = [F.relu(v[:, :b]) / 4, F.relu(-v[:, :b]) / 4] + ([idx / 32] if with_idx else [])
            x = (idx[:, b:e] + nt(torch.cat(f, 1))).clamp(0, M.NSCALES - 1)
            parts.append(torch.round(x) if hard else x)
        return bits(v, torch.cat(parts, 1)).sum()

    rng = np.random.default_rng(0)
    for s in range(steps):
        v, idx = tr[rng.integers(len(tr))]
        loss = run(v, idx, False) / v.numel()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if s == steps // 2:
            for g in opt.param_groups:
                g["lr"] = 3e-4
    with torch.no_grad():
        new = sum(run(v, idx, True).item() for v, idx in va)
        old = sum(bits(v, idx).sum().item() for v, idx in va)
    return 100 * (new / old - 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(HERE, "checkpoints", "latest.pt"))
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "data"))
    ap.add_argument("--train", type=int, default=80)
    ap.add_argument("--val", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3000)
    a = ap.parse_args()
    torch.set_num_threads(2)
    ck = torch.load(a.ckpt, map_location="cpu")
    w = M.widths_of(ck["model"])
    net = M.NVC(w[0], w[1], ())    # the probe measures against the hyper-decoder alone
    net.load_state_dict(ck["model"], strict=False)
    if ck.get("qat_specs"):
        M.enable_qat(net, ck["qat_specs"])
    net.eval()
    tr = collect(net, T.Data(a.data, "train"), a.train, 1)
    va = collect(net, T.Data(a.data, "val"), a.val, 2)
    for kind in ("res", "i", "mv"):
        for name, bounds, with_idx in (("first8", [8], False), ("first8+idx", [8], True),
                                       ("slices8,24", [8, 24], False)):
            print(f"{kind:4s} {name:11s} {probe(tr[kind], va[kind], bounds, with_idx, a.steps):+.1f}% of the "
                  f"latent's bits", flush=True)


if __name__ == "__main__":
    main()

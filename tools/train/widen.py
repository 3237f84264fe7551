#!/usr/bin/python3
"""Initialise a model with wider I and/or residual latents from a trained checkpoint of narrower ones.

    /usr/bin/python3 tools/train/widen.py --from CKPT --out tools/train/run3/init.pt [--cy 160] [--cr 64]

Every weight of CKPT (any widths, e.g. v1's 64/64; "v1" below) is copied into the leading slice of its tensor in
the wider model ("v2"). The new latent channels start so that v2's first step computes exactly v1's function:
- encoder side at zero: the new rows of the analysis networks' last convs and of the linear analysis paths, and
  the new input columns of the hyper-encoders, so the new channels are 0 and code nothing yet;
- decoder side on the error: the new columns of the linear synthesis paths are the leading principal directions
  of v1's reconstruction error (16x16 luma blocks with their chroma, training crops at q63; for the residual path
  P-frames without motion), scaled to one quantiser step at q32, so the first steps' gradient pulls each new
  analysis row toward the detail v1 cannot represent; the non-linear synthesis gets zero columns for them;
- the quality gains of the new channels are the mean of v1's gains (decoder gain = 1 / encoder gain); the
  hyper-decoders predict mean 0 and a fixed small scale (NEW_SIGMA) for them until they learn better.
Deterministic (fixed seed): the same v1 checkpoint and data give the same v2 initialisation.
"""
import argparse, math, os, sys
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model as M  # noqa: E402
import train as T  # noqa: E402

NEW_SIGMA = 0.25   # the hyper-decoders' first scale for the new channels


def copy_leading(dst, src):
    """dst[:n0, :n1, ...] = src (src no larger than dst in any dimension)."""
    idx = tuple(slice(0, s) for s in src.shape)
    dst[idx] = src


def error_directions(recon_err, n):
    """recon_err: (B, 6, H/2, W/2) -> top-n right singular vectors of its 16x16-block vectors (n, 384)."""
    v = F.pixel_unshuffle(recon_err, 8).permute(0, 2, 3, 1).reshape(-1, 384).double()
    _, _, vh = torch.linalg.svd(v, full_matrices=False)
    return vh[:n].float()


def init_new_channels(sd, pre, lin_an, lin_syn, an_last, h_enc0, h_dec_last, syn0, gain, c_old, c_new, dirs):
    """dirs: (c_new - c_old, 384) directions on a 16x16 luma block with its chroma (space_to_depth(8) order)."""
    # gains: mean of the old channels' (log) gains per anchor; decoder gain the exact inverse
    lg = sd[gain + ".log_g"]
    lg[:, c_old:] = lg[:, :c_old].mean(1, keepdim=True)
    sd[gain + ".log_ig"][:, c_old:] = -lg[:, c_old:]
    g32 = math.exp(float(M.QualityGain._interp(lg[:, c_old:c_old + 1], torch.tensor([32]))[0, 0]))
    # The decoder side starts with the directions, the encoder side at zero: the new channels code nothing yet
    # (the codec's function is exactly v1's), and the first steps' gradient pulls each analysis row toward the
    # error along its direction. (Starting both sides on the directions, a PCA pair, was tried: the new channels
    # then also re-add signal v1 already reconstructs, 38 -> 19 dB at the first step.) One latent unit at q32
    # moves a block by `step` along its direction: the uniform quantiser step that minimises
    # rate + lambda(32) * 255^2 * MSE at high rate for an orthonormal transform (step^2 = 12.98 / lambda).
    step = math.sqrt(12.98 / M.lmb(32)) / 255.0
    sd[lin_an + ".weight"][c_old:] = 0
    sd[lin_an + ".bias"][c_old:] = 0
    sd[lin_syn + ".0.weight"][:, c_old:] = (dirs.t() * step * g32)[:, :, None, None]
    # non-linear parts: zero for the new channels (outputs of the analysis, inputs of hyper-encoder and synthesis)
    sd[an_last + ".weight"][c_old:] = 0
    sd[an_last + ".bias"][c_old:] = 0
    sd[h_enc0 + ".weight"][:, c_old:] = 0
    sd[syn0 + ".weight"][:, c_old:] = 0
    # hyper-decoder output: [mean (c) | scale index (c)]; v1's rows moved to their v2 places
    wd, bd = sd[h_dec_last + ".weight"], sd[h_dec_last + ".bias"]
    old_w, old_b = wd[:2 * c_old].clone(), bd[:2 * c_old].clone()
    wd.zero_()
    bd.zero_()
    wd[:c_old], bd[:c_old] = old_w[:c_old], old_b[:c_old]
    wd[c_new:c_new + c_old], bd[c_new:c_new + c_old] = old_w[c_old:], old_b[c_old:]
    bd[c_new + c_old:] = round(math.log(NEW_SIGMA / M.SMIN) / M.LOG_STEP)
    print(f"{pre}: {c_new - c_old} new channels, step at q32 {step * 255:.1f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--from", dest="src", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=os.path.join(T.ROOT, "data"))
    ap.add_argument("--cy", type=int, default=160, help="I latent channels of the new model")
    ap.add_argument("--cr", type=int, default=M.CR, help="residual latent channels of the new model")
    ap.add_argument("--crops", type=int, default=48)
    ap.add_argument("--seed", type=int, default=20261201)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    ck = torch.load(a.src, map_location="cpu")
    old = ck["model"]

    v1 = M.from_state_dict(old)   # "v1": the checkpoint's model, "v2": the wider one
    v1.eval()
    V1_CY, V1_CR = v1.cy, v1.cr
    CY, CR = a.cy, a.cr
    if CY < V1_CY or CR < V1_CR:
        sys.exit(f"widen.py only widens: {V1_CY}/{V1_CR} -> {CY}/{CR}")
    v2 = M.NVC(CY, CR)
    sd = v2.state_dict()
    for k, t in old.items():
        copy_leading(sd[k], t)

    data = T.Data(a.data, "train")
    rng = np.random.default_rng(a.seed)
    q = torch.full((a.crops,), 63, dtype=torch.long)
    with torch.no_grad():   # v1's reconstruction errors, only for the paths that widen
        xs = data.i_batch(rng, a.crops, 256)   # (also the crops of the comparison below)
        if CY > V1_CY:
            xr, _ = v1.code_i(xs, q, True)
            dirs_i = error_directions(xs - xr, CY - V1_CY)
        if CR > V1_CR:
            seq = data.p_batch(rng, a.crops // 2, 2, 256)
            prev, _ = v1.code_i(seq[:, 0], q[:a.crops // 2], True)
            prev = torch.round(prev * 255) / 255
            xp, _, _ = v1.code_p(seq[:, 1], prev, q[:a.crops // 2], quant_params=True, no_motion=True)
            dirs_r = error_directions(seq[:, 1] - xp, CR - V1_CR)
    if CY > V1_CY:
        init_new_channels(sd, "I", "i_analysis_lin", "i_synth_lin", "i_analysis.10", "i_hyper.h_enc.0",
                          "i_hyper.h_dec.10", "i_synth.0", "i_gain", V1_CY, CY, dirs_i)
    if CR > V1_CR:
        init_new_channels(sd, "residual", "p_res_enc_lin", "p_res_synth_lin", "p_res_enc.10", "p_res_hyper.h_enc.0",
                          "p_res_hyper.h_dec.10", "p_res_synth.0", "p_res_gain", V1_CR, CR, dirs_r)
    v2.load_state_dict(sd)
    v2.eval()
    for qv in (0, 32, 63):
        for name, net in (("v1", v1), ("v2", v2)):
            bpp, p = T.i_rd(net, xs, qv)
            print(f"I q{qv} {name}: bpp {bpp:.4f} psnr {p:.2f}", flush=True)
    T.save_init(a.out, v2, "widened", a.src, ck)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Which int8 grid costs the I path what: a QAT checkpoint's I-frames on the 16 fixed validation crops of
train.py, with the fake quantisation (the exporter's int8 grids, model.enable_qat) switched on for no conv, for all,
and for one group of convs at a time. Prints bpp / PSNR (YUV 6:1:1) per quality.

    /usr/bin/python3 tools/train/probe_int8.py [--ckpt tools/train/checkpoints/latest.pt] [--qualities 24,40,56]
"""
import argparse, os, sys
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model as M  # noqa: E402
import train as T  # noqa: E402

GROUPS = ("i_analysis.", "i_analysis_lin", "i_hyper.h_enc", "i_hyper.h_dec", "i_synth.", "i_synth_lin")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(HERE, "checkpoints", "latest.pt"))
    ap.add_argument("--data", default=os.path.join(T.ROOT, "data"))
    ap.add_argument("--qualities", default="24,40,56")
    a = ap.parse_args()
    torch.set_num_threads(2)
    ck = torch.load(a.ckpt, map_location="cpu")
    specs = ck.get("qat_specs")
    if not specs:
        sys.exit(f"{a.ckpt}: no qat_specs (not a QAT checkpoint)")
    xs = T.Data(a.data, "val").i_batch(np.random.default_rng(1234), 16, 256, p_video=0.25)  # as train.validate
    groups = [("none", []), ("all", list(specs))] + [(g, [n for n in specs if n.startswith(g)]) for g in GROUPS]
    print(f"# {a.ckpt} (step {ck.get('step')}): I-frames, fake int8 on <group> only; bpp / PSNR-YUV per quality")
    for name, convs in groups:
        net = M.from_state_dict(ck["model"])
        net.eval()
        if convs:
            M.enable_qat(net, {n: specs[n] for n in convs})
        cells = []
        with torch.no_grad():
            for q in [int(v) for v in a.qualities.split(",")]:
                xr, bits = net.code_i(xs, torch.full((xs.shape[0],), q), True)
                cells.append(f"q{q} {bits.mean().item() / (xs.shape[2] * xs.shape[3] * 4):.3f} / "
                             f"{T.psnr(T.dist(xs, xr)[0]).mean().item():.2f}")
        print(f"{name:15s} {len(convs):2d} convs   " + "   ".join(cells), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Split the last channel slice of a checkpoint's entropy context into two (docs/model.md "Entropy context").

    /usr/bin/python3 tools/train/ctx_slices.py --from CKPT --at 24 --out tools/train/run7/init.pt

CKPT codes each latent in slices starting at (b1, ..., bk); the output codes them at (b1, ..., bk, AT), every
latent kind alike. The new model computes exactly CKPT's scale indices: the context net of the old last slice
[bk, C) becomes that of [bk, AT) (its last conv's first AT - bk rows) and a copy of it, which sees the symbols of
channels [0, AT) but starts with zero weights on those of [bk, AT), serves [AT, C) (the other rows). Everything
else is copied, the QAT grids and the step too, so train.py --init on the output continues where CKPT stopped.
"""
import argparse, os, sys
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model as M  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--from", dest="src", required=True)
    ap.add_argument("--at", type=int, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    ck = torch.load(a.src, map_location="cpu")
    cy, cr, slices = M.widths_of(ck["model"])
    if not slices or a.at <= slices[-1]:
        sys.exit(f"ctx_slices.py: {a.src} has slices starting at {slices}; --at must be above the last")
    old = M.from_state_dict(ck["model"])
    new = M.NVC(cy, cr, slices + (a.at,))
    sd = {k: v for k, v in ck["model"].items() if ".ctx." not in k}
    missing = new.load_state_dict(sd, strict=False).missing_keys
    assert all(".ctx." in k for k in missing), missing
    with torch.no_grad():
        for name in ("i_hyper", "p_mv_hyper", "p_res_hyper"):
            o, n = getattr(old, name).ctx, getattr(new, name).ctx
            L = len(o) - 1
            for k in range(L):
                n[k].load_state_dict(o[k].state_dict())
            last, head, tail = o[L].net, n[L].net, n[L + 1].net
            b, split = o[L].b, a.at - o[L].b
            for i in (0, 2):
                head[i].load_state_dict(last[i].state_dict())
                tail[i].bias.copy_(last[i].bias)
            head[4].weight.copy_(last[4].weight[:split])
            head[4].bias.copy_(last[4].bias[:split])
            # tail's first conv: features relu(v), relu(-v) of channels [0, at) -- the old ones' weights, zero
            # for the channels [b, at) the old net did not see
            tail[0].weight.zero_()
            tail[0].weight[:, :b] = last[0].weight[:, :b]
            tail[0].weight[:, a.at:a.at + b] = last[0].weight[:, b:2 * b]
            tail[2].weight.copy_(last[2].weight)
            tail[4].weight.copy_(last[4].weight[split:])
            tail[4].bias.copy_(last[4].bias[split:])
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.save({"model": new.state_dict(), "step": ck.get("step"), "stage": ck.get("stage"),
                "qat_specs": ck.get("qat_specs")}, a.out)
    print(f"wrote {a.out}: slices {slices} -> {slices + (a.at,)}")


if __name__ == "__main__":
    main()

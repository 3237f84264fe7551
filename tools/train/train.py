#!/usr/bin/python3
"""Train the nvc frame-pair codec. Resumable; staged by step count:
  stage I  : steps [0, --i-steps)                      I-frame codec on photo + video-frame patches
  stage P  : steps [--i-steps, --i-steps + --p-steps)  P-frame codec on --gop-frame sequences (I model fine-tuned too)
  stage QAT: later (needs tools/train/nvcint.py; see README.md)
Usage (from the repository root):
  nice -n 10 setsid nohup /usr/bin/python3 tools/train/train.py --resume > tools/train/logs/train.log 2>&1 &
"""
import argparse, glob, json, math, os, random, signal, sys, time
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


# ---------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------
class YuvFile:
    def __init__(self, path, w, h, frames=1):
        raw = np.fromfile(path, dtype=np.uint8)
        fs = w * h * 3 // 2
        self.n = min(frames, raw.size // fs)
        raw = raw[:self.n * fs].reshape(self.n, fs)
        self.y = raw[:, :w * h].reshape(self.n, h, w)
        self.u = raw[:, w * h:w * h * 5 // 4].reshape(self.n, h // 2, w // 2)
        self.v = raw[:, w * h * 5 // 4:].reshape(self.n, h // 2, w // 2)
        self.w, self.h = w, h

    def crop(self, f, x0, y0, s):
        """x0, y0 even; returns packed float (6, s/2, s/2)."""
        y = torch.from_numpy(np.ascontiguousarray(self.y[f, y0:y0 + s, x0:x0 + s])).float()
        u = torch.from_numpy(np.ascontiguousarray(self.u[f, y0 // 2:(y0 + s) // 2, x0 // 2:(x0 + s) // 2])).float()
        v = torch.from_numpy(np.ascontiguousarray(self.v[f, y0 // 2:(y0 + s) // 2, x0 // 2:(x0 + s) // 2])).float()
        return M.pack(y[None, None], u[None, None], v[None, None])[0] / 255.0

    def planes(self, f, x0, y0, sw, sh):
        y = torch.from_numpy(np.ascontiguousarray(self.y[f, y0:y0 + sh, x0:x0 + sw])).float() / 255
        u = torch.from_numpy(np.ascontiguousarray(self.u[f, y0 // 2:(y0 + sh) // 2, x0 // 2:(x0 + sw) // 2])).float() / 255
        v = torch.from_numpy(np.ascontiguousarray(self.v[f, y0 // 2:(y0 + sh) // 2, x0 // 2:(x0 + sw) // 2])).float() / 255
        return y, u, v


class Data:
    def __init__(self, data_dir, split):
        man = json.load(open(os.path.join(data_dir, "manifest.json")))
        self.photos = [YuvFile(os.path.join(data_dir, p["file"]), p["w"], p["h"])
                       for p in man["photos"] if p["split"] == split]
        self.clips = [YuvFile(os.path.join(data_dir, c["file"]), c["w"], c["h"], c["frames"])
                      for c in man["clips"] if c["split"] == split]
        area = np.array([p.w * p.h for p in self.photos], dtype=np.float64)
        self.pw = area / area.sum()

    def _photo(self, rng, s):
        p = self.photos[rng.choice(len(self.photos), p=self.pw)]
        while p.w < s or p.h < s:
            p = self.photos[rng.choice(len(self.photos), p=self.pw)]
        return p

    def i_batch(self, rng, b, s, p_video=0.2):
        out = []
        for _ in range(b):
            if self.clips and rng.random() < p_video:
                c = self.clips[rng.integers(len(self.clips))]
                f = rng.integers(c.n)
            else:
                c, f = self._photo(rng, s), 0
            x0 = rng.integers(0, (c.w - s) // 2 + 1) * 2
            y0 = rng.integers(0, (c.h - s) // 2 + 1) * 2
            x = c.crop(f, x0, y0, s)
            if rng.random() < 0.5:   # horizontal flip: swap luma phases dx=0/1 and flip
                x = x.flip(-1)[[1, 0, 3, 2, 4, 5]]
            out.append(x)
        return torch.stack(out)

    def clip_seq(self, rng, T, s):
        c = self.clips[rng.integers(len(self.clips))]
        step = int(rng.integers(1, 3))
        f0 = rng.integers(0, c.n - (T - 1) * step)
        x0 = rng.integers(0, (c.w - s) // 2 + 1) * 2
        y0 = rng.integers(0, (c.h - s) // 2 + 1) * 2
        seq = torch.stack([c.crop(f0 + t * step, x0, y0, s) for t in range(T)])
        if rng.random() < 0.5:
            seq = seq.flip(0)   # time reversal
        return seq

    def synth_seq(self, rng, T, s):
        """Synthetic camera motion over a real photo: per-frame translation (velocity up to +-8 luma px/frame,
        with jitter) and zoom (up to +-2 %/frame), resampled bilinearly from a larger region."""
        margin = 48
        S = s + 2 * margin
        p = self._photo(rng, S)
        x0 = rng.integers(0, (p.w - S) // 2 + 1) * 2
        y0 = rng.integers(0, (p.h - S) // 2 + 1) * 2
        y, u, v = p.planes(0, x0, y0, S, S)
        vel = rng.uniform(-8, 8, 2)
        zr = rng.uniform(-0.02, 0.02)
        frames = []
        pos = np.zeros(2)
        zoom = 1.0
        for t in range(T):
            # affine grid for the luma crop of size s centred in the region (normalised coords of region)
            sc = zoom * s / S
            cx = pos[0] * 2 / S
            cy = pos[1] * 2 / S
            theta = torch.tensor([[sc, 0, cx], [0, sc, cy]], dtype=torch.float32)[None]
            gy = F.affine_grid(theta, (1, 1, s, s), align_corners=False)
            gc = F.affine_grid(theta, (1, 1, s // 2, s // 2), align_corners=False)
            yy = F.grid_sample(y[None, None], gy, mode="bilinear", padding_mode="border", align_corners=False)
            uu = F.grid_sample(u[None, None], gc, mode="bilinear", padding_mode="border", align_corners=False)
            vv = F.grid_sample(v[None, None], gc, mode="bilinear", padding_mode="border", align_corners=False)
            frames.append(M.pack(yy, uu, vv)[0])
            pos = np.clip(pos + vel + rng.uniform(-1, 1, 2), -margin + 4, margin - 4)
            zoom = float(np.clip(zoom * (1 + zr), 0.8, 1.2))
        seq = torch.stack(frames)
        return (torch.round(seq * 255) / 255)

    def p_batch(self, rng, b, T, s, p_video=0.5):
        return torch.stack([self.clip_seq(rng, T, s) if (self.clips and rng.random() < p_video)
                            else self.synth_seq(rng, T, s) for _ in range(b)])   # (B, T, 6, s/2, s/2)


# ---------------------------------------------------------------------------------------------------------------
def dist(x, xr):
    """per-sample weighted MSE (Y:U:V = 4:1:1) and per-sample PSNR values"""
    e = (x - xr) ** 2
    my = e[:, :4].mean((1, 2, 3))
    mu = e[:, 4].mean((1, 2))
    mv = e[:, 5].mean((1, 2))
    return (4 * my + mu + mv) / 6, my, mu, mv


def psnr(m):
    return 10 * torch.log10(1.0 / m.clamp_min(1e-10))


def lambdas(q, lmb=M.lmb):
    return torch.tensor([lmb(int(v)) for v in q])


@torch.no_grad()
def i_rd(net, xs, q):
    """(bpp, PSNR Y:U:V 4:1:1) of the packed pictures xs coded as I-frames at quality q, integer means/indices."""
    r, bits = net.code_i(xs, torch.full((xs.shape[0],), q, dtype=torch.long), True)
    return bits.mean().item() / (xs.shape[2] * xs.shape[3] * 4), psnr(dist(xs, r)[0]).mean().item()


def save_init(path, net, stage, src, src_ck):
    """An initialisation for train.py --init (weights at step 0) made from checkpoint src."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save({"model": net.state_dict(), "step": 0, "stage": stage, "from": src,
                "from_step": src_ck.get("step")}, path)
    print(f"wrote {path}", flush=True)


def save_ckpt(path, net, opt, step, extra):
    tmp = path + ".tmp"
    torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "step": step, **extra}, tmp)
    os.replace(tmp, path)


@torch.no_grad()
def validate(net, val, dev, args, stage):
    net.eval()
    rng = np.random.default_rng(1234)
    xs = val.i_batch(rng, 16, 256, p_video=0.25).to(dev)
    res = []
    for q in (0, 21, 42, 63):
        qq = torch.full((xs.shape[0],), q, dtype=torch.long)
        xr, bits = net.code_i(xs, qq, True)
        m, my, mu, mv = dist(xs, xr)
        npx = xs.shape[2] * xs.shape[3] * 4
        res.append(f"I q{q}: bpp {bits.mean().item() / npx:.4f} psnr_yuv {psnr(m).mean().item():.2f} "
                   f"psnr_y {psnr(my).mean().item():.2f}")
    if stage in ("P", "QAT") and val.clips:
        rng = np.random.default_rng(99)
        seq = torch.stack([val.clip_seq(rng, args.gop, 256) for _ in range(4)]).to(dev)
        for no_motion in ((False, True) if args.p_no_motion > 0 else (False,)):
            for q in (0, 32, 63):
                qq = torch.full((seq.shape[0],), q, dtype=torch.long)
                prev, bits = net.code_i(seq[:, 0], qq, True)
                pb, pm = 0, 0
                for t in range(1, seq.shape[1]):
                    prev, b, info = net.code_p(seq[:, t], prev, qq, quant_params=True, no_motion=no_motion)
                    pb += b.mean().item()
                    pm += psnr(dist(seq[:, t], prev)[0]).mean().item()
                n = seq.shape[1] - 1
                npx = seq.shape[3] * seq.shape[4] * 4
                res.append(f"P{'0' if no_motion else ''}(clip) q{q}: bpp {pb / n / npx:.4f} psnr_yuv {pm / n:.2f}")
    net.train()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "data"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tools/train/checkpoints"))
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", help="start (step 0, fresh optimiser) from the weights of this checkpoint; parameters "
                    "it lacks keep their initialisation (e.g. the zero-initialised linear paths)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--i-steps", type=int, default=40000)
    ap.add_argument("--p-steps", type=int, default=60000)
    ap.add_argument("--i-batch", type=int, default=8)
    ap.add_argument("--p-batch", type=int, default=4)
    ap.add_argument("--patch", type=int, default=256)
    ap.add_argument("--gop", type=int, default=4, help="frames per P training sequence (I + gop-1 P)")
    ap.add_argument("--gop-late", type=int, default=6,
                    help="sequence length for the last 30 %% of stage P and for QAT (longer chains against drift)")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--i-lmb-max", type=float, default=None, help="the I path's lambda at q63 (model.lmb_i)")
    ap.add_argument("--range-penalty", type=float, default=0.0, help="weight of the I latent's out-of-range penalty")
    ap.add_argument("--prior-lr-mult", type=float, default=10.0,
                    help="learning-rate multiplier of the hyper-latents' factorized priors")
    ap.add_argument("--lin-lr-mult", type=float, default=0.1,
                    help="learning-rate multiplier of the linear model's transforms (NVC(linear=True))")
    ap.add_argument("--block-mv", action="store_true",
                    help="motion as block vectors (NVC(block_mv=True): model.block_search, BlockMv) with a new "
                         "hyperprior; a start checkpoint's learned motion path is dropped")
    ap.add_argument("--post", action="store_true",
                    help="add the in-loop filters (model.post_filter) to a checkpoint that has none")
    ap.add_argument("--i-post", action="store_true",
                    help="add the I-frames' in-loop filter alone (model.NVC p_post=False)")
    ap.add_argument("--i-q-min", type=int, default=0,
                    help="I steps train qualities --i-q-min..63 (the encoder codes I-frames at q + its I offset)")
    ap.add_argument("--ckpt-min", type=float, default=5.0)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--i-offset", type=int, default=0,
                    help="P training sequences start with an I-frame this many qualities above the P-frames' "
                         "(the encoder's --i-offset; runs before session 6: 0)")
    ap.add_argument("--p-no-motion", type=float, default=0.0,
                    help="probability that a P-frame of a training sequence is coded without motion (the codec's "
                         "NO_MOTION frames: prediction = previous reconstruction); validation then also reports P0")
    ap.add_argument("--aux-steps", type=int, default=3000,
                    help="P steps over which the auxiliary flow loss toward the block search fades out (0: none; "
                         "for a motion path that is already trained)")
    ap.add_argument("--qat-steps", type=int, default=6000,
                    help="after stage P: quantisation-aware fine-tuning on P sequences (fake quant as export.py)")
    ap.add_argument("--qat-specs-from", metavar="CKPT",
                    help="at the start of QAT, take the activation grids of the sub-networks whose weights this "
                         "checkpoint shares (every conv outside the I path; for a model widened from it by "
                         "widen.py, whose P path is unchanged) from CKPT's qat_specs instead of calibrating them")
    ap.add_argument("--int-params-from", type=int, default=3500,
                    help="from this step on, hyper-decoder means and scale indices are rounded (STE) as in int8")
    ap.add_argument("--ctx", metavar="B1,B2,...",
                    help="with --init: code each latent in channel slices starting at these channels, the later ones "
                         "with context nets (model.ContextNet); new context nets start at zero, those --init has for "
                         "the same slices are loaded (ctx_slices.py converts between slicings)")
    ap.add_argument("--train-only", metavar="NAME", default="",
                    help="train only the parameters whose name contains NAME (e.g. .ctx.); the rest stays frozen")
    ap.add_argument("--keep-qat", action="store_true",
                    help="with --init: keep that checkpoint's QAT grids (qat_specs) and fake-quantise from step 0; "
                         "convs it has no grid for (new ones) train in float and export.py calibrates them")
    args = ap.parse_args()
    if args.i_lmb_max is not None:
        M.I_LMB_MAX = args.i_lmb_max

    torch.set_num_threads(args.threads)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    latest = os.path.join(args.out, "latest.pt")
    resuming = args.resume and os.path.exists(latest)
    src = latest if resuming else args.init
    start = torch.load(src, map_location=dev) if src else None   # the checkpoint this run starts from
    widths = M.widths_of(start["model"]) if start else (M.CY, M.CR, ())
    if args.ctx:
        widths = widths[:2] + (tuple(int(b) for b in args.ctx.split(",")),)
    # latent widths and architecture from the checkpoint it starts from (widen.py makes wider ones)
    arch = M.arch_of(start["model"]) if start else {"linear": False, "post": False, "p_post": False,
                                                     "block_mv": False}
    arch["p_post"] = arch["p_post"] or args.post
    arch["post"] = arch["post"] or args.post or args.i_post
    drop_mv = args.block_mv and not arch["block_mv"]
    arch["block_mv"] = arch["block_mv"] or args.block_mv
    if drop_mv and not resuming:   # a new motion path: the start's motion weights do not apply
        start["model"] = {k: v for k, v in start["model"].items() if not k.startswith("p_mv_")}
    net = M.NVC(*widths, **arch).to(dev)
    # The factorized priors of the hyper-latents learn at --prior-lr-mult x the rate: initialised wide (scale 10),
    # at the main rate they need >10k steps to fit the hyper-latents (mostly zeros), and until then every
    # hyper-latent symbol costs ~2-3 bits (measured: half of a P-frame's rate at low quality).
    for n, p in net.named_parameters():
        p.requires_grad_(args.train_only in n)
    prior = [p for n, p in net.named_parameters() if ".prior." in n and p.requires_grad]
    # the linear model's transforms (an orthonormal pair at the start) at --lin-lr-mult x the rate
    lin = [p for n, p in net.named_parameters() if net.linear and "_lin." in n and p.requires_grad]
    rest = [p for n, p in net.named_parameters()
            if ".prior." not in n and not (net.linear and "_lin." in n) and p.requires_grad]
    opt = torch.optim.Adam([g for g in ({"params": rest, "lr_mult": 1.0},
                                        {"params": prior, "lr_mult": args.prior_lr_mult},
                                        {"params": lin, "lr_mult": args.lin_lr_mult}) if g["params"]],
                           lr=args.lr)
    step = 0
    qat_specs = None
    rng = np.random.default_rng(args.seed)
    if start and not resuming:
        ck = start
        missing, unexpected = net.load_state_dict(ck["model"], strict=False)
        if unexpected:
            sys.exit(f"--init {args.init}: parameters this model does not have: {unexpected}")
        print(f"initialised from {args.init} (step {ck.get('step')}); new parameters: {missing}", flush=True)
        if args.keep_qat and ck.get("qat_specs"):
            qat_specs = ck["qat_specs"]
            M.enable_qat(net, qat_specs)
            print(f"QAT grids of {args.init} kept: {len(qat_specs)} convs", flush=True)
    if resuming:
        ck = start
        net.load_state_dict(ck["model"])
        try:
            opt.load_state_dict(ck["opt"])
        except Exception as e:   # parameter set changed: keep weights, fresh optimiser
            print("optimizer state not restored:", e, flush=True)
        step = ck["step"]
        qat_specs = ck.get("qat_specs")
        if qat_specs:
            M.enable_qat(net, qat_specs)
        if "rng" in ck:
            rng.bit_generator.state = ck["rng"]
        if "torch_rng" in ck:
            torch.set_rng_state(ck["torch_rng"])
        print(f"resumed from {latest} at step {step}", flush=True)
    print(f"device {dev}, threads {args.threads}, params {sum(p.numel() for p in net.parameters())}", flush=True)
    train = Data(args.data, "train")
    val = Data(args.data, "val")
    print(f"train: {len(train.photos)} photo files, {len(train.clips)} clip segments; "
          f"val: {len(val.photos)} photo files, {len(val.clips)} clip segments", flush=True)

    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))   # kill <pid>: checkpoint, then exit
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    last_ck = time.time()
    t0 = time.time()
    acc = {}
    p_end = args.i_steps + args.p_steps
    total = p_end + args.qat_steps
    while step < total:
        stage = "I" if step < args.i_steps else ("P" if step < p_end else "QAT")
        if stage == "QAT" and not qat_specs:
            import export as E
            if args.qat_specs_from:
                kept = torch.load(args.qat_specs_from, map_location="cpu")["qat_specs"]
                mods = dict(net.named_modules())
                E.FIXED.update({id(mods[n]): sp for n, sp in kept.items() if not n.startswith("i_")})
                print(f"QAT: {len(E.FIXED)} grids kept from {args.qat_specs_from}", flush=True)
            qat_specs = E.qat_specs(net, train)
            M.enable_qat(net, qat_specs)
            print(f"QAT enabled at step {step}: {len(qat_specs)} convs on their int8 grids", flush=True)
        # lr: constant, x0.1 over the last 15 % of each stage
        s_lo, s_hi = {"I": (0, args.i_steps), "P": (args.i_steps, p_end), "QAT": (p_end, total)}[stage]
        lr = args.lr * (0.1 if step >= s_lo + 0.85 * (s_hi - s_lo) else 1.0)
        if stage == "P":
            lr *= 0.5
        if stage == "QAT":
            lr *= 0.1
        for g in opt.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)
        qp = step >= args.int_params_from
        if stage == "I":
            x = train.i_batch(rng, args.i_batch, args.patch).to(dev)
            q = torch.from_numpy(rng.integers(args.i_q_min, M.NQ, x.shape[0]))
            xr, bits = net.code_i(x, q, qp)
            m, my, mu, mv = dist(x, xr)
            npx = x.shape[2] * x.shape[3] * 4
            bpp = bits / npx
            lm_i = lambdas(q, M.lmb_i).to(dev)
            # the latent's int8 range: a penalty where a value leaves +-120 (the clamp itself passes gradients
            # straight through, which would let a gain grow past the range)
            over = F.relu(net.last_i_latent.abs() - 120.0).pow(2).mean((1, 2, 3))
            loss = (bpp + lm_i * 255 ** 2 * m + args.range_penalty * over).mean()
            logs = {"loss": loss.item(), "bpp": bpp.mean().item(), "psnr": psnr(m).mean().item(),
                    "psnr_y": psnr(my).mean().item()}
        else:
            gop = args.gop if step < args.i_steps + 0.7 * args.p_steps else args.gop_late
            seq = train.p_batch(rng, args.p_batch, gop, args.patch).to(dev)
            q = torch.from_numpy(rng.integers(0, M.NQ, seq.shape[0]))
            lm = lambdas(q).to(dev) * 255 ** 2
            npx = seq.shape[3] * seq.shape[4] * 4
            # the sequence's I-frame at the quality the encoder gives it (nvenc-ref --i-offset), its cost in
            # the P-frames' lambda as the encoder's decisions count it
            prev, bits = net.code_i(seq[:, 0], (q + args.i_offset).clamp(0, M.NQ - 1), qp)
            loss = (bits / npx + lm * dist(seq[:, 0], prev)[0]).mean()
            pbpp = pps = mvb = aux = 0.0
            # auxiliary flow loss toward the block search during the first --aux-steps P steps (fades out)
            wa = max(0.0, 1.0 - (step - args.i_steps) / args.aux_steps) if args.aux_steps > 0 else 0.0
            for t in range(1, seq.shape[1]):
                nm = args.p_no_motion > 0 and rng.random() < args.p_no_motion
                prev, b, info = net.code_p(seq[:, t], prev, q, quant_params=qp, no_motion=nm)
                m = dist(seq[:, t], prev)[0]
                loss = loss + (b / npx + lm * m).mean()
                if wa > 0 and not nm and not net.block_mv:
                    me = F.interpolate(info["me"], scale_factor=2, mode="nearest")
                    a = ((info["flow"] - me) ** 2).mean() * 0.01
                    loss = loss + wa * a
                    aux += a.item()
                pbpp += (b / npx).mean().item()
                mvb += (info["bits_mv"] / npx).mean().item()
                pps += psnr(m).mean().item()
            n = seq.shape[1] - 1
            loss = loss / seq.shape[1]
            logs = {"loss": loss.item(), "p_bpp": pbpp / n, "p_mv_bpp": mvb / n, "p_psnr": pps / n,
                    "aux": aux / n}
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        for k, v in logs.items():
            acc[k] = acc.get(k, 0.0) + v
        acc["_n"] = acc.get("_n", 0) + 1
        if step % args.log_every == 0:
            n = acc.pop("_n")
            print(f"step {step} stage {stage} lr {lr:.1e} " +
                  " ".join(f"{k} {v / n:.4f}" for k, v in acc.items()) +
                  f" | {(time.time() - t0) / args.log_every:.3f} s/step", flush=True)
            acc, t0 = {}, time.time()
        if stop or time.time() - last_ck > args.ckpt_min * 60 or step in (total, args.i_steps, p_end):
            extra = {"rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "stage": stage,
                     "args": vars(args), "qat_specs": qat_specs}
            save_ckpt(latest, net, opt, step, extra)
            if step in (args.i_steps, p_end) and step < total:   # stage ends: kept, to redo a later stage
                save_ckpt(os.path.join(args.out, f"stage_end_{step}.pt"), net, opt, step, extra)
            # small weights-only checkpoint (committed to git)
            tmp = os.path.join(args.out, "weights.pt.tmp")
            torch.save({"model": net.state_dict(), "step": step, "stage": stage, "qat_specs": qat_specs}, tmp)
            os.replace(tmp, os.path.join(args.out, "weights.pt"))
            for line in validate(net, val, dev, args, stage):
                print(f"val step {step} {line}", flush=True)
            last_ck = time.time()
            t0 = time.time()
            if stop:
                print(f"stopped by signal at step {step} (checkpoint written)", flush=True)
                return
    print("done", flush=True)


if __name__ == "__main__":
    main()

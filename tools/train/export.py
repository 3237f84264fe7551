#!/usr/bin/python3
"""Export a trained nvc checkpoint to the int8 engine's .nvm format (docs/nvm.md, docs/engine.md).

    /usr/bin/python3 tools/train/export.py [--ckpt tools/train/checkpoints/weights.pt] [--out models/default.nvm]
                                           [--check N]

Post-training quantisation (per-output-channel int8 weights in [-64, 64], per-tensor uint8 activations calibrated
on training crops, integer requantisation) of every sub-network into its own graph, plus entropy tables as blobs.
With --check N it then runs the exported graphs with the exact integer mirror (nvcint.py) on N validation crops
(I and P) and prints bpp (from the integer entropy parameters) and PSNR next to the float model's.
Quantisation-aware fine-tuning (QAT) is the next step (see README.md); this exporter is also what QAT will use.
"""
import argparse, hashlib, json, math, os, struct, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model as M      # noqa: E402
import nvm             # noqa: E402
import nvcint          # noqa: E402
import cdf_tables       # noqa: E402  (entropy engineer's deterministic table builder/serialiser)
import train as T      # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PIC_S = 1.0 / 255.0


# ---------------------------------------------------------------------------------------------------------------
def requant_params(ratio):
    """M, S with M / 2^S ~= ratio, M in [0, 2^30), S in [1, 62]."""
    ratio = np.asarray(ratio, dtype=np.float64)
    Ms, Ss = np.zeros(ratio.shape, np.int64), np.zeros(ratio.shape, np.int64)
    for i, r in np.ndenumerate(ratio):
        if r <= 0:
            Ms[i], Ss[i] = 0, 1
            continue
        S = int(min(62, max(1, math.floor(math.log2((2 ** 30 - 1) / r)))))
        Mv = int(round(r * 2 ** S))
        while Mv >= 2 ** 30:
            S -= 1
            Mv = int(round(r * 2 ** S))
        Ms[i], Ss[i] = Mv, S
    return Ms, Ss


def amax(t, q=0.9999):
    v = t.detach().flatten().abs()
    if v.numel() > 2_000_000:
        v = v[torch.randperm(v.numel(), generator=torch.Generator().manual_seed(0))[:2_000_000]]
    k = max(1, int(q * v.numel()))
    return float(v.kthvalue(k).values) if v.numel() > 1 else float(v.max())


FIXED = {}   # id(conv module) -> grid from QAT (checkpoint "qat_specs"), used instead of calibration
SPECS = {}   # id(conv module) -> output quantisation grid, filled by quant_conv (used by QAT)


def chan(scale):
    """A grid scale (a number, or one per channel) as a 1-D float64 tensor (1 or C values)."""
    return torch.as_tensor(scale, dtype=torch.float64).flatten()


def scale_value(s):
    """A scale tensor back to a float when it is one value, else a list (one per channel)."""
    s = chan(s)
    return float(s[0]) if s.numel() == 1 else [float(v) for v in s]


def channel_amax(t):
    """amax of each channel of an NCHW tensor (a float64 tensor of C values)."""
    return torch.tensor([amax(t[:, c]) for c in range(t.shape[1])], dtype=torch.float64)


def linear_range(lin, data):
    """Grid range of each output channel of the linear model's analysis conv `lin` (inputs in [-0.5, 0.5]):
    twice the calibration maximum, but never more than the most the conv can output (|w|_1 / 2 + |b|). The
    calibration crops (mostly smooth photos) see a fraction of the range that textured video reaches in the
    detail channels: with their maximum as the grid, vtest's I-frames lost 3 dB in int8 (session 8); the
    theoretical bound alone would be too coarse for those channels, and is exact for the block mean."""
    w = lin.weight.detach().double()
    bound = 0.5 * w.abs().sum((1, 2, 3)) + lin.bias.detach().double().abs()
    return torch.minimum(2 * channel_amax(data), bound).clamp_min(1e-4)


def exact_at(scale, step):
    """Per-channel grid scales made divisors of `step` (one per channel): step / m with m = floor(step / scale)
    (at least 1), i.e. the finest divisor no finer than `scale`. With step the latent step at one quality, the
    values a latent can take at that quality lie on the grid exactly: the linear model's I-frames are coded at
    q63 wherever the P-frames' quality is 18 or more (the encoder's I offset is 45), and there a grid that
    divides the latent step loses nothing where a calibrated one rounded and clipped (vtest's I-frames at q63:
    +0.15 dB in the synthesis input alone, Megamind +0.2; session 10)."""
    return step / torch.floor(step / chan(scale)).clamp_min(1)


def clamp_to_grid(y, scale, spec):
    """Float data as a tensor on this grid holds it (clamped to the grid's range, per channel)."""
    s = chan(scale).to(y.dtype).reshape(1, -1, 1, 1)
    return torch.maximum(torch.minimum(y, (spec["hi"] - spec["zp"]) * s), (spec["lo"] - spec["zp"]) * s)


def qat_specs(net, data):
    """Calibrate and build (as export does) and return {module name: grid} for model.enable_qat."""
    SPECS.clear()
    net_was_training = net.training
    net.eval()
    build(net, calibration(net, data))
    net.train(net_was_training)
    return {name: SPECS[id(mod)] for name, mod in net.named_modules() if id(mod) in SPECS}


class Act:
    """An exported tensor with its float scale per channel (scalar for most) and its float calibration data."""

    def __init__(self, t, scale, data):
        self.t, self.scale, self.data = t, scale, data


def quant_conv(g, x, conv, relu, out_spec=None, bias_offset=0.0, w_mul=1.0, split=False, addend=None):
    """x: Act. Returns (tensor, s_out, float output). out_spec: dict(scale, zp, lo, hi) or None (auto).
    split (linear convs with an out_spec only): the weights as two int8 convs, w ~ hi + lo, hi on the usual
    per-output-channel grid and lo (the rounding error of hi) on its own, 64x finer; their outputs are added onto
    out_spec. Twice the MACs for weights of ~13 bits instead of 7: the linear model's I synthesis folds input
    grids that differ ~100x between channels into each output row, and 62% of its int8 weights were 0 (vtest's
    I-frames at q63 lost 0.3 dB to that alone, session 10).
    addend (an Act of the output's shape on a grid of one scale): added to the conv's accumulator before its one
    rounding onto out_spec (the engine's conv2d with an addend, docs/engine.md). The weights' grid is then the
    addend's step over an integer A per output row (A = the most that keeps the weights in [-64, 64]), so the
    addend enters the accumulator exactly as A * (addend - zp). The residual synthesis adds the prediction this
    way: rounded once onto the picture grid, where a residual on a uint8 grid of its own (1.6 levels per step for
    +-202 levels) cost 0.3-0.9 dB at high quality over a GOP (session 11)."""
    if split:
        return quant_conv_split(g, x, conv, out_spec, bias_offset)
    w = conv.weight.detach().double() * w_mul
    b = (conv.bias.detach().double() * w_mul + bias_offset) if conv.bias is not None else torch.zeros(w.shape[0])
    y = F.conv2d(x.data, conv.weight.detach() * w_mul, (conv.bias.detach() * w_mul + bias_offset),
                 conv.stride, conv.padding)
    if relu:
        y = F.relu(y)
    s_in = torch.as_tensor(x.scale, dtype=torch.float64).reshape(-1)
    if s_in.numel() == 1:
        s_in = s_in.expand(w.shape[1])
    w_eff = w * s_in.view(1, -1, 1, 1)                      # weights acting on raw (q - zp)
    s_w = w_eff.abs().amax((1, 2, 3)) / nvm.WEIGHT_MAX
    s_w = torch.where(s_w > 0, s_w, torch.ones_like(s_w))
    A = None
    if addend is not None:
        s_add = float(chan(addend.scale)[0])
        assert chan(addend.scale).numel() == 1, "conv2d addend: one grid scale"
        A = torch.floor(s_add / s_w).clamp(1, 32767)
        assert bool((s_add / A >= s_w * (1 - 1e-9)).all()), "conv2d addend: weights too large for A >= 1"
        s_w = s_add / A
        y = y + addend.data
    wq = torch.round(w_eff / s_w.view(-1, 1, 1, 1)).clamp(-64, 64).to(torch.int64)
    if out_spec is None and id(conv) in FIXED:      # QAT-trained grid
        f = FIXED[id(conv)]
        out_spec = dict(scale=chan(f["scale"]) * w_mul, zp=f["zp"], lo=f["lo"], hi=f["hi"])
    if out_spec is None:
        if relu:
            out_spec = dict(scale=max(amax(y), 1e-6) / 255.0, zp=0, lo=0, hi=255)
        else:
            out_spec = dict(scale=max(amax(y), 1e-6) / 127.0, zp=128, lo=0, hi=255)
    if relu:
        out_spec = dict(out_spec, lo=out_spec["zp"])
    bias = torch.round(b / s_w) - x.t.zp * wq.sum((1, 2, 3))
    K = wq.shape[1] * wq.shape[2] * wq.shape[3]
    bound = 2 ** 31 - 1 - K * 255 * 64 - (0 if A is None else 255 * int(A.max()))
    bias = bias.clamp(-bound, bound).to(torch.int64)
    s_out = chan(out_spec["scale"])         # one value, or one per output channel
    Mq, Sq = requant_params((s_w / s_out).numpy())
    t = g.conv2d(x.t, wq.numpy(), bias.numpy(), Mq, Sq, out_spec["zp"], out_spec["lo"], out_spec["hi"],
                 stride=conv.stride[0], addend=None if A is None else addend.t,
                 A=None if A is None else A.to(torch.int64).numpy())
    # for QAT: the output grid of this conv in the float model's own units (before w_mul / bias_offset)
    SPECS[id(conv)] = dict(scale=scale_value(s_out / w_mul), zp=out_spec["zp"], lo=out_spec["lo"],
                           hi=out_spec["hi"], offset=bias_offset / w_mul, relu=bool(relu))
    return Act(t, scale_value(s_out), clamp_to_grid(y, s_out, out_spec))


def quant_conv_split(g, x, conv, out_spec, bias_offset):
    """quant_conv(split=True): hi = the weights on their int8 grid (with the bias, onto out_spec's grid), lo = the
    rest on a per-row grid of its own, onto a grid of its own (twice its calibration maximum: it is small and
    smooth, and the add clamps), then hi + lo onto out_spec."""
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() + bias_offset
    s_in = chan(x.scale)
    if s_in.numel() == 1:
        s_in = s_in.expand(w.shape[1])
    w_eff = w * s_in.view(1, -1, 1, 1)
    s_hi = (w_eff.abs().amax((1, 2, 3)) / nvm.WEIGHT_MAX).clamp_min(1e-30)
    hi = torch.round(w_eff / s_hi.view(-1, 1, 1, 1)).clamp(-64, 64) * s_hi.view(-1, 1, 1, 1)
    parts = []
    for w_part, b_part, spec in ((hi, b, out_spec), (w_eff - hi, torch.zeros_like(b), None)):
        c = nn.Conv2d(w.shape[1], w.shape[0], conv.kernel_size, conv.stride, conv.padding)
        with torch.no_grad():
            c.weight.copy_(w_part / s_in.view(1, -1, 1, 1))
            c.bias.copy_(b_part)
        if spec is None:
            with torch.no_grad():
                y = F.conv2d(x.data.double(), c.weight.double(), None, c.stride, c.padding)
            spec = dict(scale=max(2 * amax(y), 1e-9) / 127.0, zp=128, lo=0, hi=255)
        parts.append(quant_conv(g, x, c, False, spec))
    return add_acts(g, parts[0], parts[1], out_spec)   # its data: the two parts' float outputs, i.e. the conv's


def export_seq(g, x, seq, last_spec=None, last_bias_offset=0.0, last_w_mul=1.0, stop_before_last=False,
               split_last=False):
    """Sequential of Conv2d / ReLU / D2S. Returns the output Act (or, with stop_before_last, the Act feeding the
    last conv and that conv)."""
    layers = list(seq)
    convs = [i for i, l in enumerate(layers) if isinstance(l, nn.Conv2d)]
    i = 0
    while i < len(layers):
        l = layers[i]
        if isinstance(l, nn.Conv2d):
            last = i == convs[-1]
            if last and stop_before_last:
                return x, l
            nxt = layers[i + 1:i + 3]
            relu = any(isinstance(n, nn.ReLU) for n in nxt[:1]) or (
                len(nxt) == 2 and isinstance(nxt[0], M.D2S) and isinstance(nxt[1], nn.ReLU))
            x = quant_conv(g, x, l, relu, last_spec if last else None,
                           last_bias_offset if last else 0.0, last_w_mul if last else 1.0, split_last and last)
        elif isinstance(l, M.D2S):
            x = Act(g.depth_to_space(x.t, l.r), x.scale, F.pixel_shuffle(x.data, l.r))
        elif isinstance(l, nn.ReLU):
            pass   # folded into the producing conv
        i += 1
    return x


def add_acts(g, a, b, out_spec=None):
    """a + b requantised onto out_spec (default: calibrated, one scale, zp 128). Scales may be one per channel
    when a's and b's are each a constant multiple of the output's (the add op's multipliers are per tensor)."""
    data = a.data + b.data
    if out_spec is None:
        out_spec = dict(scale=max(amax(data), 1e-6) / 127.0, zp=128, lo=0, hi=255)
    s_out = chan(out_spec["scale"])
    ra_v = (chan(a.scale) / s_out).expand(data.shape[1])
    rb_v = (chan(b.scale) / s_out).expand(data.shape[1])
    ra, rb = float(ra_v[0]), float(rb_v[0])
    assert torch.allclose(ra_v, torch.full_like(ra_v, ra), rtol=1e-9) and \
        torch.allclose(rb_v, torch.full_like(rb_v, rb), rtol=1e-9), "add: input/output scale ratios differ by channel"
    S = 30
    while max(abs(ra), abs(rb)) * 2 ** S > 32767:
        S -= 1
    assert S >= 1, "add: scale ratio too large for an int16 multiplier"
    t = g.add(a.t, b.t, int(round(ra * 2 ** S)), int(round(rb * 2 ** S)), S, out_spec["zp"], out_spec["lo"],
              out_spec["hi"])
    return Act(t, scale_value(s_out), clamp_to_grid(data, s_out, out_spec))


def analysis_output(g, x, lin=None, xs=None):
    """The last conv of an analysis (x: the Act feeding it and the conv, from export_seq(stop_before_last=True)), plus the
    linear path `lin` on Act xs, on grids of one scale per channel. The quality gain then multiplies this tensor
    (scale_channels), so one grid step must stay well below one latent unit at every quality for every channel;
    with one scale for the tensor the channel of the largest range (the linear path's block mean) set it and the
    others got as little as 1.3 steps per latent unit at q63 (I path: the median channel's step was 0.48 latent
    units at q40, 0.07 with per-channel grids; tools/train/README.md)."""
    a_in, last = x
    with torch.no_grad():
        a_f = F.conv2d(a_in.data, last.weight, last.bias, last.stride, last.padding)
        if lin is None:
            return quant_conv(g, a_in, last, False, dict(scale=channel_amax(a_f).clamp_min(1e-6) / 127.0, zp=128,
                                                         lo=0, hi=255))
        b_f = lin(xs.data)
    s = channel_amax(a_f + b_f).clamp_min(1e-6) / 127.0
    # each path on a constant multiple of the sum's grid, large enough for its own range in every channel
    alpha = float((channel_amax(a_f) / 127.0 / s).max())
    beta = float((channel_amax(b_f) / 127.0 / s).max())
    a = quant_conv(g, a_in, last, False, dict(scale=alpha * s, zp=128, lo=0, hi=255))
    b = quant_conv(g, xs, lin, False, dict(scale=beta * s, zp=128, lo=0, hi=255))
    return add_acts(g, a, b, dict(scale=s, zp=128, lo=0, hi=255))


def post_filter(g, pic, post, gate=None):
    """The linear model's in-loop filter (model.post_filter) on a picture Act (the picture grid, zp 128 = XC):
    picture + correction, onto the picture grid. pic.data: calibration pictures in the float model's units
    minus XC are what the filter's convs see. The picture joins the last conv's accumulator (an addend), so
    picture + correction is rounded once onto the picture grid (as the residual synthesis does).
    gate (model.QualityGate): the hidden features times gate(q), a scale_channels op (per quality) onto a grid per
    channel as much coarser than the ReLU's as the channel's largest factor above 1."""
    if post is None:
        return pic
    h, last = export_seq(g, pic, post, stop_before_last=True)
    if gate is not None:
        with torch.no_grad():
            f = gate(torch.arange(M.NQ))[:, :, 0, 0].double()                  # [NQ][C]
        s_h = chan(h.scale).expand(f.shape[1])
        s_g = s_h * f.amax(0).clamp_min(1.0)
        Mq, Sq = requant_params((f * s_h / s_g).numpy())
        h = Act(g.scale_channels(h.t, Mq, Sq, 0, 0, 255), scale_value(s_g),
                h.data * f.mean(0).float().view(1, -1, 1, 1))
    return quant_conv(g, h, last, False, dict(scale=PIC_S, zp=128, lo=0, hi=255), addend=pic)


def gains(qg):
    qs = torch.arange(M.NQ)
    with torch.no_grad():
        return qg.gain(qs)[:, :, 0, 0].double(), qg.inv_gain(qs)[:, :, 0, 0].double()


# ---------------------------------------------------------------------------------------------------------------
def build(net, calib):
    """calib: dict of float calibration inputs (real domain of the float model)."""
    m = nvm.Model(0)
    # ---- encoder-side latent graphs: analysis -> scale_channels(gain) -> latent (scale 1, zp 128)
    def enc_graph(name, seq, inputs, qg, data, lin=None, exact_q=None):
        g = m.graph(name)
        gn, _ = gains(qg)
        ts = [g.input(n, c, zp) for n, c, zp, _ in inputs]
        if len(ts) > 1:
            x = g.concat(ts)
        else:
            x = ts[0]
        scale = torch.cat([torch.full((c,), s, dtype=torch.float64) for _, c, _, s in inputs])
        last = None if seq is None else export_seq(g, Act(x, scale, data), seq, stop_before_last=True)
        xs = None
        if lin is not None:   # + linear path: space_to_depth(8) of the input, 1x1 conv
            xs = Act(g.space_to_depth(x, 8), scale.repeat_interleave(64), F.pixel_unshuffle(data, 8))
        if seq is None:       # the linear model: the linear path alone, on one grid per channel
            with torch.no_grad():
                s_out = linear_range(lin, lin(xs.data)) / 127.0
            if exact_q is not None:   # the latent step at exact_q, 1 / gain, on the grid
                s_out = exact_at(s_out, 1.0 / gn[exact_q])
            a = quant_conv(g, xs, lin, False, dict(scale=s_out, zp=128, lo=0, hi=255))
        else:
            a = analysis_output(g, last, lin, xs)
        Mq, Sq = requant_params((chan(a.scale) * gn).numpy())
        g.output("latent", g.scale_channels(a.t, Mq, Sq, 128, 0, 255))
        return g

    def hyper_enc_graph(name, seq, c, data):
        g = m.graph(name)
        x = g.input("latent", c, 128)
        a = export_seq(g, Act(x, 1.0, data), seq, last_spec=dict(scale=1.0, zp=128, lo=0, hi=255))
        g.output("hyper_latent", a.t)

    def hyper_dec_graph(name, hyp, cz, cy, data):
        g = m.graph(name)
        x = g.input("hyper_latent", cz, 128)
        a, last = export_seq(g, Act(x, 1.0, data), hyp.h_dec, stop_before_last=True)
        mean_c = nn.Conv2d(last.in_channels, cy, last.kernel_size, last.stride, last.padding)
        idx_c = nn.Conv2d(last.in_channels, cy, last.kernel_size, last.stride, last.padding)
        with torch.no_grad():
            mean_c.weight.copy_(last.weight[:cy]); mean_c.bias.copy_(last.bias[:cy])
            if hyp.zero_mean:   # the linear model's means are 0 whatever those rows hold
                M.zero_init(mean_c)
            idx_c.weight.copy_(last.weight[cy:]); idx_c.bias.copy_(last.bias[cy:])
        mt = quant_conv(g, a, mean_c, False, dict(scale=1.0, zp=128, lo=0, hi=255))
        it = quant_conv(g, a, idx_c, False, dict(scale=1.0, zp=0, lo=0, hi=M.NSCALES - 1))
        g.output("mean", mt.t)
        g.output("scale_idx", it.t)

    def ctx_graphs(prefix, hyp, c, lat):
        """<prefix>_ctx<k>: (latent channels [0, b) as decoded, the hyper-decoder's mean and scale_idx of all c
        channels) -> scale_idx of channels [b, b + n) (model.ContextNet). lat: calibration latents (integers)."""
        if not len(hyp.ctx):
            return
        with torch.no_grad():
            mean, _ = hyp.entropy_params(torch.round(hyp.h_enc(lat)).clamp(-128, 127))
            v = (lat - torch.round(mean).clamp(-128, 127)).clamp(-128, 127)
        for k, cn in enumerate(hyp.ctx):
            g = m.graph(f"{prefix}_ctx{k + 1}")
            lt, mt, it = g.input("latent", cn.b, 128), g.input("mean", c, 128), g.input("scale_idx", c, 0)
            vt = g.add(lt, g.slice(mt, 0, cn.b), 2, -2, 1, 128, 0, 255)     # v = latent - mean, exactly
            split = nn.Conv2d(cn.b, 2 * cn.b, 1)                              # relu(v), relu(-v), exactly
            with torch.no_grad():
                split.weight.zero_()
                split.bias.zero_()
                for i in range(cn.b):
                    split.weight[i, i], split.weight[cn.b + i, i] = 1.0, -1.0
            pm = quant_conv(g, Act(vt, 1.0, v[:, :cn.b]), split, True, dict(scale=1.0, zp=0, lo=0, hi=255))
            # hidden grids with 2x the calibration crops' maximum: real clips' latents reach further than these
            # crops' (a 99.99th-percentile grid saturated the second conv on vtest and undid the context's gain)
            h = Act(pm.t, 0.25, cn.features(v))   # the features as the float model scales them: relu(+-v) / 4
            for conv_ in (cn.net[0], cn.net[2]):
                with torch.no_grad():
                    top = F.relu(F.conv2d(h.data, conv_.weight, conv_.bias, 1, conv_.padding)).max().item()
                h = quant_conv(g, h, conv_, True, dict(scale=max(top, 1e-6) * 2 / 255.0, zp=0, lo=0, hi=255))
            d = quant_conv(g, h, cn.net[4], False, dict(scale=1.0, zp=128, lo=0, hi=255))
            # the slice's indices + the (integer) change, clamped to the table range
            g.output("scale_idx", g.add(g.slice(it, cn.b, cn.n), d.t, 2, 2, 1, 0, 0, M.NSCALES - 1))

    def dec_input(g, x, qg, data, lin=None, exact_q=None):
        """latent input tensor (zp 128, scale 1) -> scale_channels(inverse gain) -> Act. lin: the linear model's
        analysis conv, whose output the inverse-gained latent approximates (its range sets the grid). exact_q:
        the grid divides the latent step (the inverse gain) at this quality (exact_at)."""
        _, ig = gains(qg)
        if lin is not None:
            s = linear_range(lin, data) / 127.0
            if exact_q is not None:
                s = exact_at(s, ig[exact_q])
        else:
            s = channel_amax(data).clamp_min(1e-3) / 127.0   # one grid per channel (their ranges differ ~30x)
        Mq, Sq = requant_params((ig / s).numpy())
        return Act(g.scale_channels(x, Mq, Sq, 128, 0, 255), scale_value(s), data)

    # I
    # the linear model's I path: grids exact at q63 (exact_at), the synthesis weights split (quant_conv)
    i_exact = M.NQ - 1 if net.linear else None
    enc_graph("i_analysis", net.i_analysis, [("picture", 6, 128, PIC_S)], net.i_gain, calib["i_analysis"],
              net.i_analysis_lin, i_exact)
    hyper_enc_graph("i_hyper_enc", net.i_hyper.h_enc, net.cy, calib["i_hyper_enc"])
    hyper_dec_graph("i_hyper_dec", net.i_hyper, M.CZ, net.cy, calib["i_hyper_dec"])
    ctx_graphs("i", net.i_hyper, net.cy, calib["i_hyper_enc"])
    g = m.graph("i_synth")
    a = dec_input(g, g.input("latent", net.cy, 128), net.i_gain, calib["i_synth"],
                  net.i_analysis_lin if net.linear else None, i_exact)
    if net.i_synth is None:   # the linear model: the linear path alone, straight onto the picture grid
        out = export_seq(g, a, net.i_synth_lin, last_spec=dict(scale=PIC_S, zp=128, lo=0, hi=255),
                         last_bias_offset=0.5 - M.XC, split_last=True)
        out = post_filter(g, out, net.i_post, net.i_post_gate)
    else:   # non-linear path (carrying the +0.5 - XC output offset) + linear path, added onto the picture grid
        nl = export_seq(g, a, net.i_synth, last_bias_offset=0.5 - M.XC)
        out = add_acts(g, nl, export_seq(g, a, net.i_synth_lin), dict(scale=PIC_S, zp=128, lo=0, hi=255))
    g.output("picture", out.t)
    # P motion
    cm, czm = net.p_mv_hyper.cy, net.p_mv_hyper.cz
    g = m.graph("p_mv_enc")
    cur, prev = g.input("picture", 6, 128), g.input("prev", 6, 128)
    gn, ig = gains(net.p_mv_gain)
    if net.block_mv:   # the encoder's block vectors (quarter pels, zp 128) times the quality gain
        bmv = g.input("block_mv", 2, 128)
        Mq, Sq = requant_params(gn.numpy())
        g.output("latent", g.scale_channels(bmv, Mq, Sq, 128, 0, 255))
    else:
        me = g.input("search_mv", 2, 128)
        meu = g.upsample(me, 4, "nearest")
        x = g.concat([cur, prev, meu])
        scale = torch.cat([torch.full((12,), PIC_S, dtype=torch.float64),
                           torch.full((2,), 1 / 8.0, dtype=torch.float64)])
        a = analysis_output(g, export_seq(g, Act(x, scale, calib["p_mv_enc"]), net.p_mv_enc, stop_before_last=True))
        Mq, Sq = requant_params((chan(a.scale) * gn).numpy())
        g.output("latent", g.scale_channels(a.t, Mq, Sq, 128, 0, 255))
    hyper_enc_graph("p_mv_hyper_enc", net.p_mv_hyper.h_enc, cm, calib["p_mv_hyper_enc"])
    hyper_dec_graph("p_mv_hyper_dec", net.p_mv_hyper, czm, cm, calib["p_mv_hyper_dec"])
    ctx_graphs("p_mv", net.p_mv_hyper, cm, calib["p_mv_hyper_enc"])
    g = m.graph("p_mv_synth")
    lat, prev = g.input("latent", cm, 128), g.input("prev", 6, 128)
    # motion: a tensor at 1/4 luma resolution, scale 1/4 pel, zp 128, +-31.75 luma pels
    if net.block_mv:   # the latent times the inverse gain is the block's vector in quarter pels (model.BlockMv)
        Mq, Sq = requant_params(ig.numpy())
        mo = g.upsample(g.scale_channels(lat, Mq, Sq, 128, 1, 255), 4, "nearest")
    else:   # float flow = 4 * conv_out
        a = dec_input(g, lat, net.p_mv_gain, calib["p_mv_synth"])
        mo = export_seq(g, a, net.p_mv_synth.net, last_spec=dict(scale=0.25, zp=128, lo=1, hi=255),
                        last_w_mul=4.0).t
    pred = g.warp(prev, mo, 4, 8, 1, 8, 1)   # 1/4 pel -> 1/16 pel: (q-128)*8 >> 1
    g.output("pred", pred)
    g.output("motion", mo)
    # P residual
    enc_graph("p_res_enc", net.p_res_enc, [("picture", 6, 128, PIC_S), ("pred", 6, 128, PIC_S)], net.p_res_gain,
              calib["p_res_enc"], net.p_res_enc_lin)
    hyper_enc_graph("p_res_hyper_enc", net.p_res_hyper.h_enc, net.cr, calib["p_res_hyper_enc"])
    hyper_dec_graph("p_res_hyper_dec", net.p_res_hyper, M.CZR, net.cr, calib["p_res_hyper_dec"])
    ctx_graphs("p_res", net.p_res_hyper, net.cr, calib["p_res_hyper_enc"])
    g = m.graph("p_res_synth")
    lat, pred = g.input("latent", net.cr, 128), g.input("pred", 6, 128)
    a = dec_input(g, lat, net.p_res_gain, calib["p_res_synth"], net.p_res_enc_lin if net.linear else None)
    if net.p_res_synth is None:   # the linear model: the prediction joins the synthesis conv's accumulator (in
        # its 16x16-block layout, space_to_depth(8)) and pred + residual are rounded once onto the picture grid
        conv_, d2s = net.p_res_synth_lin
        pred_b = Act(g.space_to_depth(pred, 8), PIC_S, F.pixel_unshuffle(calib["p_pred"], 8))
        o = quant_conv(g, a, conv_, False, dict(scale=PIC_S, zp=128, lo=0, hi=255), addend=pred_b)
        out = Act(g.depth_to_space(o.t, d2s.r), PIC_S, F.pixel_shuffle(o.data, d2s.r))
    else:   # pred + residual onto the picture grid
        res = add_acts(g, export_seq(g, a, net.p_res_synth), export_seq(g, a, net.p_res_synth_lin))
        # (pred's float values matter only to the in-loop filter)
        out = add_acts(g, Act(pred, PIC_S, calib["p_pred"]), res, dict(scale=PIC_S, zp=128, lo=0, hi=255))
    out = post_filter(g, out, net.p_post, net.p_post_gate)
    g.output("picture", out.t)
    return m


# ---------------------------------------------------------------------------------------------------------------
def prior_tables(prior):
    """Learned factorized prior -> one entropy table per channel (lo, hi, escape_k, freqs) in the entropy coder's
    format (docs/entropy.md): values lo..hi coded directly (tails beyond hold <= 2^-16 of the mass), escape for
    the rest, 12-bit frequencies from cdf_tables.quantize."""
    pm = prior.cdf_table(-127, 127).double().numpy()
    tabs = []
    for p in pm:
        p = np.maximum(p, 0)
        c = np.cumsum(p)
        tot = max(c[-1], 1e-12)
        lo_i = int(np.searchsorted(c, tot / 131072.0))            # first index with left mass beyond the tail
        hi_i = int(len(p) - 1 - np.searchsorted(np.cumsum(p[::-1]), tot / 131072.0))
        lo_i, hi_i = min(lo_i, 127), max(hi_i, 127)               # always include value 0 (index 127)
        inside = p[lo_i:hi_i + 1]
        tail = max(0.0, 1.0 - float(inside.sum()))
        probs = [float(v) for v in inside] + [tail]
        probs = [min(1.0, v / max(sum(probs), 1e-300)) for v in probs]
        tabs.append((lo_i - 127, hi_i - 127, 0, cdf_tables.quantize(probs)))
    return tabs


def block_analysis_blob(lin, qg, cin):
    """The encoder's block analysis (docs/nvm.md "Block analysis blobs"; nvcint.block_analysis mirrors it, the C
    encoder runs it instead of the int8 analysis graph of the same latent): the linear model's analysis conv
    `lin` (a 1x1 conv on space_to_depth(8) of `cin` packed picture channels, zp 128) with int16 weights and an
    exact int64 accumulator, then latent = round(acc * scale[q][c]) with scale = the row's weight step times the
    quality gain, in float64. Decoders never run it, so its precision is the encoder's choice: the int8 graph
    rounds twice (7-bit weights; a uint8 output grid whose step, at q63, is up to 1 latent unit where a channel's
    range needs all 255 levels) and cost the P-frames at q63 ~20% of their bits and 0.9 dB (session 11)."""
    w = lin.weight.detach().double()[:, :, 0, 0] * PIC_S          # acting on raw (q - 128)
    b = lin.bias.detach().double()
    s_w = (w.abs().amax(1) / 32767.0).clamp_min(1e-30)
    wq = torch.round(w / s_w[:, None]).clamp(-32767, 32767).to(torch.int64)
    bias = torch.round(b / s_w) - 128 * wq.sum(1)                 # raw inputs: the bias holds -zp * sum(w)
    gn, _ = gains(qg)
    scale = gn * s_w[None, :]
    cout, n = wq.shape
    assert n == cin * 64 and n <= 2048, "block analysis: at most 2048 inputs (int32 lanes of the SIMD kernel)"
    return (b"NVBA" + struct.pack("<HHIIII", 1, 0, cout, cin, 8, scale.shape[0]) +
            wq.numpy().astype("<i2").tobytes() + bias.numpy().astype("<i8").tobytes() +
            scale.numpy().astype("<f8").tobytes())


def synth_basis_blob(lin, qg):
    """The encoder's picture of a linear synthesis (docs/nvm.md "Synthesis basis blobs"; codec/rdoq.h): what one
    latent unit of each channel adds to the 384 packed samples of its 16x16 luma block, in 8-bit sample units,
    at each quality: step[q][c] * w[c][n] with w on a per-channel int16 grid. `lin` is the linear synthesis
    (a 1x1 conv latent -> 6 * 64 channels, then depth_to_space(8): conv output n is packed channel n // 64 at
    (dy, dx) = ((n // 8) % 8, n % 8) of the block, the order of the blob). The encoder's rate-distortion optimised
    quantisation weighs each latent value's bits against the squared error it saves with it; decoders never
    read it, and the float weights (not the int8 graph's) are the model's own account of that error."""
    conv = lin[0]
    basis = conv.weight.detach().double()[:, :, 0, 0].t() * 255.0       # [C][n]
    s_w = (basis.abs().amax(1) / 32767.0).clamp_min(1e-30)
    wq = torch.round(basis / s_w[:, None]).clamp(-32767, 32767).to(torch.int64)
    _, ig = gains(qg)
    step = ig * s_w[None, :]
    c, n = wq.shape
    return (b"NVSB" + struct.pack("<HHIIII", 1, 0, c, n // 64, 8, step.shape[0]) +
            wq.numpy().astype("<i2").tobytes() + step.numpy().astype("<f4").tobytes())


def add_blobs(m, net):
    if net.linear:   # the encoder's precise analyses (block_analysis_blob) and synthesis bases (synth_basis_blob)
        m.add_blob("i_analysis_exact", block_analysis_blob(net.i_analysis_lin, net.i_gain, 6))
        m.add_blob("p_res_enc_exact", block_analysis_blob(net.p_res_enc_lin, net.p_res_gain, 12))
        m.add_blob("i_synth_basis", synth_basis_blob(net.i_synth_lin, net.i_gain))
        m.add_blob("p_res_synth_basis", synth_basis_blob(net.p_res_synth_lin, net.p_res_gain))
    scales = [cdf_tables.gaussian_sigma(k, M.NSCALES, M.SMIN, M.SMAX) for k in range(M.NSCALES)]
    m.add_blob("gauss_cdf", cdf_tables.serialize(cdf_tables.gaussian_set(M.NSCALES, M.SMIN, M.SMAX)))
    for name, hyp in (("i", net.i_hyper), ("p_mv", net.p_mv_hyper), ("p_res", net.p_res_hyper)):
        m.add_blob(f"{name}_z_cdf", cdf_tables.serialize(prior_tables(hyp.prior)))
    meta = {
        "format": "nvc model v1", "qualities": M.NQ, "luma_alignment": 64,
        "latents": {"i": [net.cy, M.CZ], "p_mv": [net.p_mv_hyper.cy, net.p_mv_hyper.cz], "p_res": [net.cr, M.CZR]},
        "gauss_sigmas": scales,
        "tables": "entropy table sets in the format of docs/entropy.md (cdf_tables.serialize): gauss_cdf = the "
                  "64-table Gaussian set (sigma 0.11..64), symbol = latent - mean, table = scale_idx; "
                  "<i|p_mv|p_res>_z_cdf = one table per hyper-latent channel, symbol = q - 128",
        "graphs": {g.name: {"inputs": [[n, c, zp] for n, c, zp in g.inputs],
                            "outputs": [[n, g.tensors[i].c, g.tensors[i].zp] for n, i in g.outputs]}
                   for g in m.graphs},
    }
    m.add_blob("meta", json.dumps(meta, indent=1).encode())


def table_bits(tab, v):
    """approximate cost in bits of integer values v (array) coded with table (lo, hi, k, freqs): direct symbols
    exactly, escapes as the escape symbol + Exp-Golomb(k) of the magnitude beyond the range + sign."""
    lo, hi, k, f = tab
    f = np.asarray(f, np.float64)
    v = np.asarray(v, np.int64)
    inside = (v >= lo) & (v <= hi)
    b = np.where(inside, -np.log2(f[np.clip(v - lo, 0, hi - lo)] / 4096.0), 0.0)
    mag = np.maximum(np.where(v > hi, v - hi - 1, lo - 1 - v), 0)
    eg = 2 * np.floor(np.log2((mag >> k) + 1)) + 1 + k + 1
    b = b + np.where(inside, 0.0, -np.log2(f[-1] / 4096.0) + eg)
    return b


# ---------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def calibration(net, data, n=8, s=256, seed=7):
    rng = np.random.default_rng(seed)
    xs = data.i_batch(rng, n, s, p_video=0.3)
    qs = torch.from_numpy(np.linspace(0, 63, n).round().astype(np.int64))
    c = {}
    c["i_analysis"] = xs - M.XC
    y = net.i_transform(xs - M.XC) * net.i_gain.gain(qs)
    yq = torch.round(y).clamp(-128, 127)
    c["i_hyper_enc"] = yq
    z = torch.round(net.i_hyper.h_enc(yq)).clamp(-128, 127)
    c["i_hyper_dec"] = z
    c["i_synth"] = yq * net.i_gain.inv_gain(qs)
    # P: short clip/synthetic sequences, previous frame = float I reconstruction
    seq = data.p_batch(rng, n, 2, s)
    prev, _ = net.code_i(seq[:, 0], qs)
    cur = seq[:, 1]
    if net.block_mv:
        mm = torch.round(M.block_search(cur, prev) * net.p_mv_gain.gain(qs)).clamp(-128, 127)
    else:
        me = M.block_motion_search(cur, prev)
        me2 = F.interpolate(me, scale_factor=4, mode="nearest") / 8.0
        c["p_mv_enc"] = torch.cat([cur - M.XC, prev - M.XC, me2], 1)
        mm = torch.round(net.p_mv_enc(c["p_mv_enc"]) * net.p_mv_gain.gain(qs)).clamp(-128, 127)
    c["p_mv_hyper_enc"] = mm
    c["p_mv_hyper_dec"] = torch.round(net.p_mv_hyper.h_enc(mm)).clamp(-128, 127)
    c["p_mv_synth"] = mm * net.p_mv_gain.inv_gain(qs)
    pred = M.warp_packed(prev, net.p_mv_synth(c["p_mv_synth"]))
    c["p_res_enc"] = torch.cat([cur - M.XC, pred - M.XC], 1)
    c["p_pred"] = pred - M.XC
    rr = torch.round(net.res_transform(c["p_res_enc"]) * net.p_res_gain.gain(qs)).clamp(-128, 127)
    c["p_res_hyper_enc"] = rr
    c["p_res_hyper_dec"] = torch.round(net.p_res_hyper.h_enc(rr)).clamp(-128, 127)
    c["p_res_synth"] = rr * net.p_res_gain.inv_gain(qs)
    return c


# ---------------------------------------------------------------------------------------------------------------
# Integer pipeline (encoder + decoder through nvcint) for the check
def bits_latent(lat, mean, idx, gtabs):
    sym = lat.astype(np.int64) - mean.astype(np.int64)
    idx = idx.astype(np.int64)
    b = 0.0
    for k in np.unique(idx):
        b += table_bits(gtabs[k], sym[idx == k]).sum()
    return float(b)


def bits_z(z, ztabs):
    return float(sum(table_bits(ztabs[c], z[c].astype(np.int64) - 128).sum() for c in range(z.shape[0])))


def int_latent(m, prefix, lat, tabs, q):
    """hyper path: latent -> (decoded latent as the decoder sees it, bits)"""
    z = nvcint.run_graph(m.get_graph(prefix + "_hyper_enc"), {"latent": lat}, q)["hyper_latent"]
    hp = nvcint.run_graph(m.get_graph(prefix + "_hyper_dec"), {"hyper_latent": z}, q)
    idx = hp["scale_idx"].copy()
    k = 1
    while m.has_graph(f"{prefix}_ctx{k}"):   # the context nets refine later channels' indices
        g = m.get_graph(f"{prefix}_ctx{k}")
        b0 = g.inputs[0][1]
        out = nvcint.run_graph(g, {"latent": lat[:b0], "mean": hp["mean"], "scale_idx": hp["scale_idx"]}, q)
        idx[b0:b0 + out["scale_idx"].shape[0]] = out["scale_idx"]
        k += 1
    b = bits_latent(lat, hp["mean"], idx, tabs["gauss"]) + bits_z(z, tabs[prefix])
    return lat, b   # latent = symbol + mean exactly (the means are integers)


def analysis(m, graph, blob, inputs, q):
    """The latent the C encoder computes: its block analysis where the model has the blob, else the int8 graph."""
    if blob in dict(m.blobs):
        return nvcint.block_analysis(m.blob(blob), [inputs[n] for n in ("picture", "pred") if n in inputs], q)
    return nvcint.run_graph(m.get_graph(graph), inputs, q)["latent"]


def parse_tables(b):
    assert b[:4] == b"NVCT"
    n = struct.unpack_from("<H", b, 6)[0]
    pos, out = 8, []
    for _ in range(n):
        lo, hi, k, _ = struct.unpack_from("<bbBB", b, pos)
        pos += 4
        f = struct.unpack_from("<%dH" % (hi - lo + 2), b, pos)
        pos += 2 * (hi - lo + 2)
        out.append((lo, hi, k, f))
    return out


def to_u8(x):
    return np.clip(np.round(x.numpy() * 255), 0, 255).astype(np.uint8)


def check(m, net, data, n, q_list=(8, 24, 40, 56), s=256):
    tabs = {"gauss": parse_tables(m.blob("gauss_cdf"))}
    for p in ("i", "p_mv", "p_res"):
        tabs[p] = parse_tables(m.blob(p + "_z_cdf"))
    rng = np.random.default_rng(4321)
    seqs = torch.stack([data.clip_seq(rng, 3, s) for _ in range(n)])
    seqs = torch.round(seqs * 255) / 255
    npx = s * s
    for q in q_list:
        fr = {"ib": 0, "ip": 0, "pb": 0, "pp": 0}
        it = {"ib": 0, "ip": 0, "pb": 0, "pp": 0}
        for k in range(n):
            qq = torch.tensor([q])
            # float
            with torch.no_grad():
                x0 = seqs[k:k + 1, 0]
                r0, b0 = net.code_i(x0, qq, True)
                fr["ib"] += b0.item() / npx
                fr["ip"] += T.psnr(T.dist(x0, r0)[0]).item()
                prev = r0
                for t in (1, 2):
                    xr, b, _ = net.code_p(seqs[k:k + 1, t], prev, qq, quant_params=True)
                    fr["pb"] += b.item() / npx / 2
                    fr["pp"] += T.psnr(T.dist(seqs[k:k + 1, t], xr)[0]).item() / 2
                    prev = xr
            # integer
            pic = to_u8(seqs[k, 0])
            lat = analysis(m, "i_analysis", "i_analysis_exact", {"picture": pic}, q)
            yh, b = int_latent(m, "i", lat, tabs, q)
            rec = nvcint.run_graph(m.get_graph("i_synth"), {"latent": yh}, q)["picture"]
            it["ib"] += b / npx
            it["ip"] += T.psnr(T.dist(seqs[k:k + 1, 0], torch.from_numpy(rec[None]).float() / 255)[0]).item()
            for t in (1, 2):
                cur = to_u8(seqs[k, t])
                search, key = (M.block_search, "block_mv") if net.block_mv else (M.block_motion_search, "search_mv")
                with torch.no_grad():
                    me = search(torch.from_numpy(cur[None]).float() / 255, torch.from_numpy(rec[None]).float() / 255)
                me_u8 = (me[0].numpy().round() + 128).clip(0, 255).astype(np.uint8)
                ml = nvcint.run_graph(m.get_graph("p_mv_enc"), {"picture": cur, "prev": rec, key: me_u8}, q)["latent"]
                mh, bm = int_latent(m, "p_mv", ml, tabs, q)
                pred = nvcint.run_graph(m.get_graph("p_mv_synth"), {"latent": mh, "prev": rec}, q)["pred"]
                rl = analysis(m, "p_res_enc", "p_res_enc_exact", {"picture": cur, "pred": pred}, q)
                rh, br = int_latent(m, "p_res", rl, tabs, q)
                rec = nvcint.run_graph(m.get_graph("p_res_synth"), {"latent": rh, "pred": pred}, q)["picture"]
                it["pb"] += (bm + br) / npx / 2
                it["pp"] += T.psnr(T.dist(seqs[k:k + 1, t], torch.from_numpy(rec[None]).float() / 255)[0]).item() / 2
        f = {k: v / n for k, v in fr.items()}
        i = {k: v / n for k, v in it.items()}
        print(f"q{q:2d}  float: I {f['ib']:.4f} bpp {f['ip']:.2f} dB, P {f['pb']:.4f} bpp {f['pp']:.2f} dB"
              f"   int8: I {i['ib']:.4f} bpp {i['ip']:.2f} dB, P {i['pb']:.4f} bpp {i['pp']:.2f} dB", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(HERE, "checkpoints", "weights.pt"))
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "default.nvm"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data"))
    ap.add_argument("--check", type=int, default=0, help="validation sequences for the int8 check (0: none)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    ck = torch.load(a.ckpt, map_location="cpu")
    net = M.from_state_dict(ck["model"])
    net.eval()
    if ck.get("qat_specs"):
        mods = dict(net.named_modules())
        FIXED.update({id(mods[n]): sp for n, sp in ck["qat_specs"].items()})
        M.enable_qat(net, ck["qat_specs"])   # the float reference of --check is then the fake-quant model
        print(f"using the QAT activation grids of the checkpoint ({len(FIXED)} convs)")
    train = T.Data(a.data, "train")
    cal = calibration(net, train)
    m = build(net, cal)
    add_blobs(m, net)
    blob = nvm.serialize(m)
    m.model_id = int.from_bytes(hashlib.sha256(blob[64:]).digest()[:8], "little")
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    nvm.write_nvm(a.out, m)
    print(f"wrote {a.out}: model id {m.model_id:016x}, {os.path.getsize(a.out)} bytes, "
          f"checkpoint step {ck.get('step')} stage {ck.get('stage')}")
    if a.check:
        m2 = nvm.read_nvm(a.out)
        check(m2, net, T.Data(a.data, "val"), a.check)


if __name__ == "__main__":
    main()

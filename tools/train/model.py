"""nvc frame-pair codec (float model for training; the int8 engine runs the same graphs).

Conventions
- A YUV420 frame of luma size HxW (H, W multiples of 64 inside the network; the codec pads) is packed as a
  6-channel tensor at (H/2, W/2): channels 0..3 = luma phases (dy, dx) = (0,0), (0,1), (1,0), (1,1)
  (= torch.pixel_unshuffle(Y, 2)), channel 4 = U, channel 5 = V. Values are sample/255 (uint8 input, scale 1/255,
  zero point 0 in the int8 engine).
- depth_to_space(r) = torch.pixel_shuffle (output channel c takes input channels c*r*r + dy*r + dx);
  space_to_depth(r) = torch.pixel_unshuffle (the inverse).
- conv kxk stride s uses zero padding k//2 on each side (output size ceil(in/s)).
- Every sub-network below is a separate graph the C engine runs; see docs/model.md for inputs/outputs.
"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F

NQ = 64                      # quality indices 0..63
ANCHORS = [0, 21, 42, 63]    # qualities with learned gain vectors (interpolated in the log domain)
LMB_MIN, LMB_MAX = 0.0018, 0.12   # lambda(q) log-spaced: loss = bpp + lambda * 255^2 * MSE(Y,U,V 4:1:1)
NSCALES = 64                 # Gaussian scale table: s_k = SMIN * (SMAX/SMIN)^(k/63), k = 0..63
SMIN, SMAX = 0.11, 64.0
LOG_STEP = math.log(SMAX / SMIN) / (NSCALES - 1)
CTX_SLICES = (8,)            # the shipped model's entropy context: where the channel slices after the first start
CTX_HID = 32                 # hidden channels of a context net
MV_MAX = 31.75               # motion in luma pels, quarter-pel grid (int8 activation, scale 1/4, zp 128)
BLOCK_MV_RANGE = 8           # block_search: the integer search range (luma pels) in training; the encoder's is its own
BLOCK_MV_PENALTY = 16          # block_search: cost units (SAD of 8-bit luma) per quarter pel of |vx| + |vy| (a bias to 0:
                             # noise-fitting vectors cost more than they save; session 9: 1 -> 16 halved their entropy)
CZB = 8                      # hyper-latent channels of the block-vector latent


def lmb(q):
    return LMB_MIN * (LMB_MAX / LMB_MIN) ** (q / (NQ - 1))


I_TOP_Q = 42                 # I-frames: lambda(q) up to this quality, then log-linear to I_LMB_MAX at q63
I_LMB_MAX = 0.48              # 4x LMB_MAX (run 20): I-frames better than the best P-frame; codec/frame.c nvc_frame_i_lambda


def lmb_i(q):
    """The I path's lambda at quality q: lmb(q) up to I_TOP_Q, then log-linear up to I_LMB_MAX at q63."""
    if q <= I_TOP_Q or I_LMB_MAX == LMB_MAX:
        return lmb(q)
    t = (q - I_TOP_Q) / (NQ - 1 - I_TOP_Q)
    return lmb(I_TOP_Q) * (I_LMB_MAX / lmb(I_TOP_Q)) ** t


class _ClampIndex(torch.autograd.Function):
    """Clamp to [0, NSCALES - 1] whose gradient also passes where the value is out of range if it points back
    into the range (a descent step would move the value toward it), not if it points further out."""

    @staticmethod
    def forward(ctx, t):
        ctx.save_for_backward(t)
        return t.clamp(0, NSCALES - 1)

    @staticmethod
    def backward(ctx, g):
        t, = ctx.saved_tensors
        inward = ((t >= 0) & (t <= NSCALES - 1)) | ((t < 0) & (g < 0)) | ((t > NSCALES - 1) & (g > 0))
        return torch.where(inward, g, torch.zeros_like(g))


def clamp_index(t):
    """Scale indices clamped to the table, 0..NSCALES-1. A plain clamp has no gradient outside the range, and an
    index that once falls below 0 never comes back: run 12's hyper-decoder gave the vertical block vector index 0
    (sigma 0.11) everywhere, so each nonzero vertical component cost ~20 bits, half of the motion bits (session
    10). Passing every gradient through (straight-through) diverged within 200 steps (run 14a: clamped elements
    pushed the shared hyper-decoder further out without limit); only gradients that point back in pass here."""
    return _ClampIndex.apply(t)


def scale_of_index(t):
    return torch.exp(math.log(SMIN) + t * LOG_STEP)


def pack(y, u, v):
    return torch.cat([F.pixel_unshuffle(y, 2), u, v], 1)


def unpack(x):
    return F.pixel_shuffle(x[:, :4], 2), x[:, 4:5], x[:, 5:6]


def ste_round(x):
    return x + (torch.round(x) - x).detach()


def conv(cin, cout, k=3, s=1):
    return nn.Conv2d(cin, cout, k, s, padding=k // 2)


class D2S(nn.Module):
    def __init__(self, r=2):
        super().__init__()
        self.r = r

    def forward(self, x):
        return F.pixel_shuffle(x, self.r)


def relu():
    return nn.ReLU(inplace=False)


# ---------------------------------------------------------------------------------------------------------------
# Entropy models
# ---------------------------------------------------------------------------------------------------------------
class FactorizedPrior(nn.Module):
    """Ballé 2018 factorized density, one learned CDF per channel (the C decoder gets tables at export)."""

    def __init__(self, ch, filters=(3, 3, 3), init_scale=10.0):
        super().__init__()
        f = (1,) + tuple(filters) + (1,)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.mats, self.biases, self.factors = nn.ParameterList(), nn.ParameterList(), nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / f[i + 1]))
            self.mats.append(nn.Parameter(torch.full((ch, f[i + 1], f[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(ch, f[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(ch, f[i + 1], 1)))

    def logits_cdf(self, x):  # x: (C, 1, N)
        for i in range(len(self.mats)):
            x = torch.matmul(F.softplus(self.mats[i]), x) + self.biases[i]
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
        return x

    def likelihood(self, z):  # z: (B, C, H, W) (already quantised or noisy)
        B, C, H, W = z.shape
        x = z.permute(1, 0, 2, 3).reshape(C, 1, -1)
        lo = self.logits_cdf(x - 0.5)
        up = self.logits_cdf(x + 0.5)
        sign = -torch.sign(lo + up).detach()
        lik = torch.abs(torch.sigmoid(sign * up) - torch.sigmoid(sign * lo))
        lik = lik.reshape(C, B, H, W).permute(1, 0, 2, 3)
        return lik.clamp_min(1e-9)

    @torch.no_grad()
    def cdf_table(self, lo=-128, hi=127):
        """Per-channel pmf over integers lo..hi (export builds the rANS tables from it)."""
        C = self.mats[0].shape[0]
        v = torch.arange(lo, hi + 1, dtype=torch.float32).view(1, 1, -1).expand(C, 1, -1)
        lower = torch.sigmoid(self.logits_cdf(v - 0.5))
        upper = torch.sigmoid(self.logits_cdf(v + 0.5))
        return (upper - lower).squeeze(1)


def clamp_latent(y):
    """The latent as the codec holds it: uint8 with zp 128, i.e. [-128, 127] (gradient passes through: the
    clamp is rare where the gains are right, and a zero gradient there would hide it from the gains)."""
    return y + (y.clamp(-128.0, 127.0) - y).detach()


def gaussian_likelihood(sym, scale):
    """P(integer symbol) under N(0, scale) discretised to unit bins; sym = y - mean."""
    s = scale.clamp_min(SMIN)
    up = 0.5 * torch.erfc(-(0.5 - sym.abs()) / (s * math.sqrt(2)))
    lo = 0.5 * torch.erfc(-(-0.5 - sym.abs()) / (s * math.sqrt(2)))
    return (up - lo).clamp_min(1e-9)


class QualityGain(nn.Module):
    """Per-channel gains selected by quality q in 0..63: learned log-gain vectors at ANCHORS, linear
    interpolation in the log domain. Encoder gain (applied before rounding) and decoder inverse gain."""

    def __init__(self, ch):
        super().__init__()
        init = torch.tensor([0.5 * math.log(lmb(a) / lmb(32)) for a in ANCHORS]).view(-1, 1).repeat(1, ch)
        self.log_g = nn.Parameter(init.clone())
        self.log_ig = nn.Parameter(-init.clone())

    @staticmethod
    def _interp(table, q):  # q: (B,) long
        a = torch.tensor(ANCHORS, dtype=torch.float32, device=table.device)
        qf = q.float().to(table.device)
        i = torch.clamp(torch.searchsorted(a, qf, right=True) - 1, 0, len(ANCHORS) - 2)
        t = (qf - a[i]) / (a[i + 1] - a[i])
        return table[i] * (1 - t).unsqueeze(1) + table[i + 1] * t.unsqueeze(1)

    def gain(self, q):
        return torch.exp(self._interp(self.log_g, q))[:, :, None, None]

    def inv_gain(self, q):
        return torch.exp(self._interp(self.log_ig, q))[:, :, None, None]


# ---------------------------------------------------------------------------------------------------------------
# Sub-network builders
# ---------------------------------------------------------------------------------------------------------------
def analysis(cin, cy):
    # packed (1/2) -> 1/4 -> 1/8 -> 1/16 luma
    return nn.Sequential(conv(cin, 32, 3, 2), relu(), conv(32, 32), relu(),
                         conv(32, 64, 3, 2), relu(), conv(64, 64), relu(),
                         conv(64, 96, 3, 2), relu(), conv(96, cy))


def hyper_enc(cy, cz):
    # 1/16 -> 1/64
    return nn.Sequential(conv(cy, 64), relu(), conv(64, 64, 3, 2), relu(), conv(64, cz, 3, 2))


def hyper_dec(cz, cy, last_k=3):
    # 1/64 -> 1/16; outputs 2*cy channels: [mean (latent units) | scale index (0..63)]
    return nn.Sequential(conv(cz, 64), relu(), conv(64, 256, 1), D2S(), relu(),
                         conv(64, 64), relu(), conv(64, 128, 1), D2S(), relu(),
                         conv(32, 2 * cy, last_k))


def synthesis(cy, c8, c4, cout=6):
    # 1/16 -> 1/8 -> 1/4 -> 1/2 (packed)
    return nn.Sequential(conv(cy, 4 * c8), D2S(), relu(), conv(c8, c8), relu(),
                         conv(c8, 4 * c4, 1), D2S(), relu(), conv(c4, c4), relu(),
                         conv(c4, 4 * cout), D2S())


class ContextNet(nn.Module):
    """Channel-conditional entropy context (docs/model.md, "Entropy context"): a change of the scale indices of
    latent channels [b, b + n) from the decoded symbols v = latent - mean of channels [0, b). It sees only
    entropy-decoded data, so a decoder runs it between decoding channels [0, b) and channels [b, b + n).
    Features: relu(v) and relu(-v) (integers; /4 here, which export.py folds into the first conv's input scale);
    output: the change, rounded to an integer (with quant_params) like the indices themselves. The hyper-decoder's
    indices are not an input: next to the symbols (range ~+-20) they (0..63) took the int8 weight grid of the
    first conv and the export lost the context's gain; without them tools/train/probe_context.py's residual
    latent saves 6.5% of its bits instead of 7.3%.
    The last conv starts at zero: a model gains a context net without changing its function."""

    def __init__(self, b, n, hid=CTX_HID):
        super().__init__()
        self.b, self.n = b, n
        self.net = nn.Sequential(conv(2 * b, hid, 3), relu(), conv(hid, hid, 1), relu(), conv(hid, n, 3))
        zero_init(self.net[-1])

    def features(self, v):
        v = v[:, :self.b]
        return torch.cat([F.relu(v) / 4, F.relu(-v) / 4], 1)

    def forward(self, v):
        return self.net(self.features(v))


class HyperLatentCodec(nn.Module):
    """Latent y (gained) + hyperprior (+ optional channel context): returns y_hat and rate in bits."""

    def __init__(self, cy, cz, ctx_slices=(), zero_mean=False):
        super().__init__()
        self.h_enc = hyper_enc(cy, cz)
        # zero_mean (the linear-transform model): the means are 0, only the scales are predicted. With a complete
        # block transform most channels are detail whose mean is 0; a predicted mean that rounds to +-1 where the
        # scale is small costs many bits, and a young hyper-decoder does that often (session 8: 4x the bits of a
        # static per-channel code after 1500 steps; with means fixed at 0, below it). The last conv is then a
        # 1x1 (the scale of a coefficient from the hyper-features at its own position): k3 there would cost
        # 9 * 32 * 2C / 256 = 864 MAC per luma pixel at C = 384.
        self.zero_mean = zero_mean
        self.h_dec = hyper_dec(cz, cy, 1 if zero_mean else 3)
        if zero_mean:
            zero_init(self.h_dec[-1])
        self.prior = FactorizedPrior(cz)
        self.cy, self.cz = cy, cz
        # ctx_slices = (b1, b2, ...): channels [0, b1) coded first, then [b1, b2) with a context from them, ...
        ends = tuple(ctx_slices) + (cy,)
        self.ctx = nn.ModuleList([ContextNet(b, e - b) for b, e in zip(ends[:-1], ends[1:])])

    def context_indices(self, v, idx, quant_params):
        """The scale indices after the context nets: v the decoded symbols (y_hat - mean), idx the hyper-decoder's."""
        if not len(self.ctx):
            return idx
        v = v.clamp(-128, 127)    # the decoder's graph forms latent - mean in a uint8 tensor (zp 128)
        parts = [idx[:, :self.ctx[0].b]]
        for c in self.ctx:
            d = c(v)
            if quant_params:
                d = ste_round(d)
            parts.append(clamp_index(idx[:, c.b:c.b + c.n] + d))
        return torch.cat(parts, 1)

    def entropy_params(self, z_hat):
        p = self.h_dec(z_hat)
        mean, idx = p[:, :self.cy], p[:, self.cy:]
        if self.zero_mean:
            mean = torch.zeros_like(mean)
        return mean, clamp_index(idx)

    def forward(self, y, quant_params=False):
        y = clamp_latent(y)
        z = self.h_enc(y)
        if self.training:
            z_noisy = z + torch.empty_like(z).uniform_(-0.5, 0.5)
            z_hat = ste_round(z)
        else:
            z_noisy = z_hat = torch.round(z)
        bits_z = -torch.log2(self.prior.likelihood(z_noisy)).sum((1, 2, 3))
        mean, idx = self.entropy_params(z_hat)
        if quant_params:   # integer mean and index as the int8 decoder produces them
            mean, idx = ste_round(mean), ste_round(idx)
        if self.training:
            sym_noisy = y - mean + torch.empty_like(y).uniform_(-0.5, 0.5)
            y_hat = ste_round(y - mean) + mean
        else:
            sym_noisy = torch.round(y - mean)
            y_hat = sym_noisy + mean
        idx = self.context_indices(y_hat - mean, idx, quant_params)
        scale = scale_of_index(idx)
        bits_y = -torch.log2(gaussian_likelihood(sym_noisy, scale)).sum((1, 2, 3))
        return y_hat, bits_y, bits_z


# ---------------------------------------------------------------------------------------------------------------
# Warp (float version of the engine's integer bilinear warp; edge-clamped)
# ---------------------------------------------------------------------------------------------------------------
def warp_plane(p, fx, fy):
    """p: (B,1,H,W); fx, fy: (B,1,H,W) displacement in pixels of this plane. Sample at (x+fx, y+fy), clamped."""
    B, _, H, W = p.shape
    ys = torch.arange(H, device=p.device, dtype=p.dtype).view(1, H, 1)
    xs = torch.arange(W, device=p.device, dtype=p.dtype).view(1, 1, W)
    gx = (xs + fx[:, 0]).clamp(0, W - 1) * (2.0 / max(W - 1, 1)) - 1
    gy = (ys + fy[:, 0]).clamp(0, H - 1) * (2.0 / max(H - 1, 1)) - 1
    grid = torch.stack([gx, gy], -1)
    return F.grid_sample(p, grid, mode="bilinear", padding_mode="border", align_corners=True)


def warp_packed(x, flow4):
    """x: packed frame (B,6,H/2,W/2); flow4: (B,2,H/4,W/4) luma displacement (dx, dy) in luma pels, one vector per
    4x4 luma block. As the engine's warp op (docs/engine.md, r = 4): the field is upsampled bilinearly
    (half-pixel centres) to full luma resolution; chroma sample (cy, cx) uses the luma vector at (2cy, 2cx)
    halved (the engine's `>> 1` of the 1/16-pel value)."""
    y, u, v = unpack(x)
    fl = F.interpolate(flow4, scale_factor=4, mode="bilinear", align_corners=False)
    fc = fl[:, :, ::2, ::2] * 0.5
    y = warp_plane(y, fl[:, 0:1], fl[:, 1:2])
    u = warp_plane(u, fc[:, 0:1], fc[:, 1:2])
    v = warp_plane(v, fc[:, 0:1], fc[:, 1:2])
    return pack(y, u, v)


@torch.no_grad()
def block_motion_search(cur, ref, R=8):
    """Encoder-side integer motion search (not a network): luma averaged to half resolution (mean of the 4
    phases), 4x4 blocks at half resolution (= 8x8 luma), full search +-R half-res pels (+-2R luma), SAD.
    Returns (B,2,H/8,W/8) luma displacement in luma pels."""
    c = cur[:, :4].mean(1, keepdim=True)
    r = ref[:, :4].mean(1, keepdim=True)
    B, _, H, W = c.shape
    rp = F.pad(r, (R, R, R, R), mode="replicate")
    best = torch.full((B, 1, H // 4, W // 4), float("inf"), device=cur.device)
    bmv = torch.zeros(B, 2, H // 4, W // 4, device=cur.device)
    for dy in range(-R, R + 1):
        for dx in range(-R, R + 1):
            sh = rp[:, :, R + dy:R + dy + H, R + dx:R + dx + W]
            sad = F.avg_pool2d((c - sh).abs(), 4) + 1e-4 * (abs(dx) + abs(dy))
            m = sad < best
            best = torch.where(m, sad, best)
            bmv[:, 0:1] = torch.where(m, torch.full_like(sad, 2.0 * dx), bmv[:, 0:1])
            bmv[:, 1:2] = torch.where(m, torch.full_like(sad, 2.0 * dy), bmv[:, 1:2])
    return bmv


def _luma255(x):
    """Packed pictures (B,6,H/2,W/2) in [0,1] -> their luma planes (B,1,H,W) as integers 0..255 (float)."""
    return torch.round(F.pixel_shuffle(x[:, :4], 2) * 255)


def sample_qpel(r, vx, vy):
    """Bilinear sample of integer luma r (B,1,H,W) at (x + vx/4, y + vy/4), vx, vy (B,1,H,W) integer quarter
    pels, edge-clamped, in integers: ((4-fx)(4-fy) a + fx (4-fy) b + (4-fx) fy c + fx fy d + 8) >> 4. The
    encoder's search (codec/motion_search.c) computes the same numbers."""
    B, _, H, W = r.shape
    ix = torch.arange(W, device=r.device).view(1, 1, 1, W) * 4 + vx.long()
    iy = torch.arange(H, device=r.device).view(1, 1, H, 1) * 4 + vy.long()
    x0, y0 = torch.div(ix, 4, rounding_mode="floor"), torch.div(iy, 4, rounding_mode="floor")
    fx, fy = ix - 4 * x0, iy - 4 * y0
    x1, y1 = (x0 + 1).clamp(0, W - 1), (y0 + 1).clamp(0, H - 1)
    x0, y0 = x0.clamp(0, W - 1), y0.clamp(0, H - 1)
    flat = r.flatten(2)

    def at(yy, xx):
        return flat.gather(2, (yy * W + xx).expand(B, 1, H, W).flatten(2)).view(B, 1, H, W)
    v = ((4 - fx) * (4 - fy) * at(y0, x0) + fx * (4 - fy) * at(y0, x1) + (4 - fx) * fy * at(y1, x0) +
         fx * fy * at(y1, x1))
    return torch.div(v + 8, 16, rounding_mode="floor")


@torch.no_grad()
def block_search(cur, ref, R=BLOCK_MV_RANGE, B=16):
    """Encoder-side block motion search of the block-vector model (not a network): one vector per BxB luma block,
    in quarter pels, minimising SAD(luma) + BLOCK_MV_PENALTY * (|vx| + |vy|). Full integer search over
    +-R pels (edge-replicated reference), then half-pel and quarter-pel refinement (the 8 neighbours at 2, then
    1 quarter pel around the best, sampled as sample_qpel); candidates in raster order (dy, then dx), the first
    minimum kept. Returns (B,2,H/B,W/B) (vx, vy) in quarter pels. codec/motion_search.c is its twin."""
    c, r = _luma255(cur), _luma255(ref)
    N, _, H, W = c.shape
    rp = F.pad(r, (R, R, R, R), mode="replicate")
    best = torch.full((N, 1, H // B, W // B), float("inf"), device=cur.device)
    mv = torch.zeros(N, 2, H // B, W // B, device=cur.device)

    def sad(pred):
        return F.avg_pool2d((c - pred).abs(), B) * (B * B)
    pen = BLOCK_MV_PENALTY * 4 * torch.arange(-R, R + 1, device=cur.device).abs().float().view(-1, 1, 1, 1, 1)
    for dy in range(-R, R + 1):     # all dx of a row of candidates at once: (2R+1, N, 1, H, W)
        shifted = torch.stack([rp[:, :, R + dy:R + dy + H, R + dx:R + dx + W] for dx in range(-R, R + 1)])
        cost = F.avg_pool2d((c[None] - shifted).abs().flatten(0, 1), B).view(2 * R + 1, N, 1, H // B, W // B) * (B * B)
        cost = cost + pen + BLOCK_MV_PENALTY * 4 * abs(dy)
        for i, dx in enumerate(range(-R, R + 1)):
            m = cost[i] < best
            best = torch.where(m, cost[i], best)
            mv = torch.where(m, torch.tensor([4.0 * dx, 4.0 * dy], device=cur.device).view(1, 2, 1, 1), mv)
    for step in (2, 1):
        centre = mv.clone()
        for dy in (-step, 0, step):
            for dx in (-step, 0, step):
                if dx == 0 and dy == 0:
                    continue
                v = centre + torch.tensor([float(dx), float(dy)], device=cur.device).view(1, 2, 1, 1)
                vf = F.interpolate(v, scale_factor=B, mode="nearest")
                cost = sad(sample_qpel(r, vf[:, 0:1], vf[:, 1:2])) + BLOCK_MV_PENALTY * v.abs().sum(1, keepdim=True)
                m = cost < best
                best = torch.where(m, cost, best)
                mv = torch.where(m, v, mv)
    return mv


class BlockMv(nn.Module):
    """p_mv_synth of the block-vector model: the decoded latent is one vector per 16x16 luma block in quarter
    pels (times the quality's inverse gain); the motion field is it, repeated over the block's 4x4 cells of
    the 1/4-resolution field the warp takes (which upsamples it bilinearly: vectors blend over 4 pels at block
    edges). No parameters."""

    def forward(self, m_hat):
        return (F.interpolate(m_hat, scale_factor=4, mode="nearest") / 4.0).clamp(-MV_MAX, MV_MAX)


XC = 128.0 / 255.0   # encoders see x - XC: the int8 engine's picture tensors have zp 128, so conv zero padding of
                     # a picture input is the value 128 (real zero of the shifted domain) in float and int alike

# ---------------------------------------------------------------------------------------------------------------
# The codec
# ---------------------------------------------------------------------------------------------------------------
# Latent widths of the shipped model (NVC(cy, cr) builds others; widths_of() reads them from a checkpoint).
# 64 numbers per 16x16 luma block with its chroma (384 samples) cap what any rate can buy on textured content
# (vtest: 32.4 dB luma with the latent not quantised at all; the best linear 64-of-384 block code, PCA, gives
# 34.4 dB, 128 of 384 40.6 dB, 192 46.5 dB: tools/train/probe_ceiling.py). A model with a 160-channel I latent
# (tools/train/widen.py) was trained in session 5 and not shipped: within half an hour of the 2-core CPU it beat
# this one in float on vtest and lost to it in int8 in the real codec (docs/model.md, "Run 3").
CY, CZ = 64, 32     # I latent / hyper-latent channels
CM, CZM = 32, 16    # motion latent / hyper-latent
CR, CZR = 64, 32    # residual latent / hyper-latent


class MvSynth(nn.Module):
    """p_mv_synth: motion latent (1/16) -> motion field (B,2,H/4,W/4) in luma pels; the graph then warps prev."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(conv(CM, 48), relu(), conv(48, 4 * 32), D2S(), relu(),
                                 conv(32, 2 * 4), D2S())

    def forward(self, m_hat):
        return (self.net(m_hat) * 4.0).clamp(-MV_MAX, MV_MAX)


def linear_analysis(cin, cy):
    """Linear path beside an analysis network: space_to_depth(8) of the packed input (cin * 64 channels at 1/16
    luma) and a 1x1 conv to the latent, i.e. a learned linear transform of each 16x16 luma block (+ chroma).
    Added to the non-linear analysis output. A linear block transform is what a fast-training small codec lacks
    most: the non-linear paths converge slowly, this one gives the latent a usable basis from the first steps."""
    return nn.Conv2d(cin * 64, cy, 1)


def linear_synthesis(cy, cout=6):
    """Linear path beside a synthesis network: 1x1 conv latent -> cout * 64 channels at 1/16, then
    depth_to_space(8) to the packed picture (1/2 luma). Added to the non-linear synthesis output. ~1.5 % of the
    decoder's MACs for a large share of its quality (docs/model.md)."""
    return nn.Sequential(nn.Conv2d(cy, cout * 64, 1), D2S(8))


class QualityGate(nn.Module):
    """Per-channel factors selected by quality q, log-linear between ANCHORS like QualityGain, starting at 1: the
    in-loop filter's hidden features times gate(q), so the filter can be strong where the quality is low and
    step aside where it is high (one filter trained over q 40..63 gained 0.3-0.45 dB on I-frames at q45 and lost
    0.1-0.27 at q63, session 11). Exported as a scale_channels op, whose tables are per quality."""

    def __init__(self, ch):
        super().__init__()
        self.log_s = nn.Parameter(torch.zeros(len(ANCHORS), ch))

    def forward(self, q):
        return torch.exp(QualityGain._interp(self.log_s, q))[:, :, None, None]


def post_filter(hid=24):
    """In-loop filter of the linear model (packed picture, H/2): correction = k3 6 -> hid R, k3 hid -> 6, added to
    the picture. A complete block transform has no smoothing across its 16x16 blocks; at low rates its
    reconstructions are blocky, which this filter learns to undo. (9 * 6 * 24 * 2) / 4 = 648 MAC per luma pixel.
    The last conv starts at zero: the filter starts as the identity."""
    net = nn.Sequential(conv(6, hid), relu(), conv(hid, 6))
    zero_init(net[-1])
    return net


def zero_init(m):
    for p in m.parameters():
        nn.init.zeros_(p)
    return m


def widths_of(state_dict):
    """(I latent channels, residual latent channels, where the context slices start: () without) of a checkpoint's
    weights."""
    slices, k = [], 0
    while f"i_hyper.ctx.{k}.net.0.weight" in state_dict:
        slices.append(state_dict[f"i_hyper.ctx.{k}.net.0.weight"].shape[1] // 2)
        k += 1
    return state_dict["i_gain.log_g"].shape[1], state_dict["p_res_gain.log_g"].shape[1], tuple(slices)


def arch_of(state_dict):
    """NVC's architecture options of a checkpoint's weights: linear (the linear-transform model has no non-linear
    analysis), post (in-loop filters) and block_mv (block vectors for motion)."""
    return {"linear": "i_analysis.0.weight" not in state_dict, "post": "i_post.0.weight" in state_dict,
            "p_post": "p_post.0.weight" in state_dict,
            "block_mv": "p_mv_enc.0.weight" not in state_dict}


def from_state_dict(state_dict):
    """The codec of a checkpoint's weights, at their latent widths, weights loaded (training mode). A checkpoint
    with an in-loop filter but no gate (run 15, session 8's run 10) gets the gate at 1, i.e. the same function."""
    net = NVC(*widths_of(state_dict), **arch_of(state_dict))
    missing, unexpected = net.load_state_dict(state_dict, strict=False)
    if unexpected or any(not k.startswith(("i_post_gate.", "p_post_gate.")) for k in missing):
        raise RuntimeError(f"checkpoint does not match the model: missing {missing}, unexpected {unexpected}")
    return net


class NVC(nn.Module):
    """linear=True: the linear-transform model (model v2, docs/model.md): the I and residual latents are a
    complete learned linear transform of each 16x16 luma block with its chroma (384 numbers -> 384 channels,
    no non-linear analysis or synthesis), coded with a hyperprior whose means are 0 (HyperLatentCodec
    zero_mean). The motion path is v1's."""

    def __init__(self, cy=CY, cr=CR, ctx_slices=(), linear=False, post=False, block_mv=False, p_post=None):
        super().__init__()
        self.cy, self.cr, self.linear, self.block_mv = cy, cr, linear, block_mv
        # post=True: an in-loop filter on each reconstruction (I: after the synthesis; P: after pred + residual,
        # unless p_post=False: the I-frames' alone), picture + a correction from two 3x3 convs, starting at zero
        # (post_filter)
        self.i_post = post_filter() if post else None
        self.i_post_gate = QualityGate(self.i_post[0].out_channels) if post else None
        self.p_post = post_filter() if (post if p_post is None else p_post) else None
        self.p_post_gate = QualityGate(self.p_post[0].out_channels) if self.p_post is not None else None
        # I-frame
        self.i_analysis = None if linear else analysis(6, cy)
        self.i_gain = QualityGain(cy)
        self.i_hyper = HyperLatentCodec(cy, CZ, ctx_slices, linear)        # i_hyper_enc, i_hyper_dec, z prior
        self.i_synth = None if linear else synthesis(cy, 48, 24)
        # linear paths (beside non-linear ones zero-initialised: a model trained without them starts from the
        # same function; the linear model's are its transforms, initialised by linear_init.py)
        lin_init = (lambda m: m) if linear else zero_init
        self.i_analysis_lin = lin_init(linear_analysis(6, cy))
        self.i_synth_lin = lin_init(linear_synthesis(cy))
        # P-frame: motion. block_mv=True: the latent is block_search's vectors (2 channels, quarter pels, times a
        # quality gain that starts at 1), coded with their own hyperprior (predicted means: a pan is one mean
        # vector), decoded by BlockMv; otherwise a learned motion encoder and synthesis (v1's).
        self.p_mv_enc = None if block_mv else nn.Sequential(
            conv(6 + 6 + 2, 32, 3, 2), relu(), conv(32, 48, 3, 2), relu(), conv(48, 64), relu(), conv(64, CM, 3, 2))
        self.p_mv_gain = QualityGain(2 if block_mv else CM)
        if block_mv:
            with torch.no_grad():
                self.p_mv_gain.log_g.zero_()
                self.p_mv_gain.log_ig.zero_()
        self.p_mv_hyper = HyperLatentCodec(2, CZB) if block_mv else HyperLatentCodec(CM, CZM, ctx_slices)
        self.p_mv_synth = BlockMv() if block_mv else MvSynth()
        # P-frame: residual
        self.p_res_enc = None if linear else analysis(12, cr)
        self.p_res_gain = QualityGain(cr)
        self.p_res_hyper = HyperLatentCodec(cr, CZR, ctx_slices, linear)
        self.p_res_synth = None if linear else synthesis(cr, 32, 24)
        self.p_res_enc_lin = lin_init(linear_analysis(12, cr))
        self.p_res_synth_lin = lin_init(linear_synthesis(cr))

    # -- analysis transforms: the non-linear network plus its linear path (export.py calibrates on these too) ---
    def i_transform(self, xc):
        lin = self.i_analysis_lin(F.pixel_unshuffle(xc, 8))
        return lin if self.linear else self.i_analysis(xc) + lin

    def res_transform(self, xp):
        lin = self.p_res_enc_lin(F.pixel_unshuffle(xp, 8))
        return lin if self.linear else self.p_res_enc(xp) + lin

    def i_inverse(self, yd):
        lin = self.i_synth_lin(yd)
        return lin if self.linear else self.i_synth(yd) + lin

    def res_inverse(self, rd):
        lin = self.p_res_synth_lin(rd)
        return lin if self.linear else self.p_res_synth(rd) + lin

    # -- I ----------------------------------------------------------------------------------------------------
    def code_i(self, x, q, quant_params=False):
        y = self.i_transform(x - XC) * self.i_gain.gain(q)
        self.last_i_latent = y   # for train.py's range penalty (the latent before rounding and clamping)
        y_hat, by, bz = self.i_hyper(y, quant_params)
        yd = y_hat * self.i_gain.inv_gain(q)
        xr = (self.i_inverse(yd) + 0.5).clamp(0, 1)
        if self.i_post is not None:
            xr = self.filtered(self.i_post, self.i_post_gate, xr, q)
        return xr, by + bz

    @staticmethod
    def filtered(post, gate, xr, q):
        """The in-loop filter: picture + the filter's correction, its hidden features gated by quality."""
        h = post[1](post[0](xr - XC)) * gate(q)
        return (xr + post[2](h)).clamp(0, 1)

    # -- P ----------------------------------------------------------------------------------------------------
    def code_p(self, x, prev, q, me=None, quant_params=False, no_motion=False):
        """no_motion: the codec's NO_MOTION P-frame (docs/bitstream.md): the prediction is prev itself, no motion
        latent is coded (the encoder picks it where it costs less, so the residual path is trained on it too)."""
        if no_motion:
            zero = torch.zeros(x.shape[0], device=x.device)
            pred, bm, bzm, flow, m = prev, zero, zero, None, None
        elif self.block_mv:
            if me is None:
                me = block_search(x, prev)
            m = me * self.p_mv_gain.gain(q)
            m_hat, bm, bzm = self.p_mv_hyper(m, quant_params)
            flow = self.p_mv_synth(m_hat * self.p_mv_gain.inv_gain(q))
            pred = warp_packed(prev, flow)
        else:
            if me is None:
                me = block_motion_search(x, prev)
            me2 = F.interpolate(me, scale_factor=2, mode="nearest") / 8.0   # to 1/4 luma res, normalised
            m = self.p_mv_enc(torch.cat([x - XC, prev - XC, F.interpolate(me2, scale_factor=2, mode="nearest")], 1))
            m = m * self.p_mv_gain.gain(q)
            m_hat, bm, bzm = self.p_mv_hyper(m, quant_params)
            flow = self.p_mv_synth(m_hat * self.p_mv_gain.inv_gain(q))
            pred = warp_packed(prev, flow)
        r = self.res_transform(torch.cat([x - XC, pred - XC], 1)) * self.p_res_gain.gain(q)
        r_hat, br, bzr = self.p_res_hyper(r, quant_params)
        rd = r_hat * self.p_res_gain.inv_gain(q)
        xr = (pred + self.res_inverse(rd)).clamp(0, 1)
        if self.p_post is not None:
            xr = self.filtered(self.p_post, self.p_post_gate, xr, q)
        # m, r: the motion and residual latents before rounding (gain applied); m is None without motion
        return xr, bm + bzm + br + bzr, {"flow": flow, "me": me, "pred": pred, "bits_mv": bm + bzm, "m": m, "r": r}


# ---------------------------------------------------------------------------------------------------------------
# Quantisation-aware training: fake quantisation on the int8 grids export.py uses
def _fq(v, spec):
    """v on the uint8 grid (scale, zp, lo, hi) after adding offset; straight-through rounding."""
    s, off = spec["scale"], spec["offset"]
    if isinstance(s, (list, tuple)):   # one scale per channel
        s = torch.tensor(s, dtype=v.dtype, device=v.device).view(1, -1, 1, 1)
    t = (v + off) / s
    t = t + (torch.round(t) - t).detach()
    t = torch.clamp(t, spec["lo"] - spec["zp"], spec["hi"] - spec["zp"])
    return t * s - off


def enable_qat(net, specs):
    """specs: {conv module name: dict(scale, zp, lo, hi, offset, relu)} from export.qat_specs. Replaces the forward
    of those convs (state dict unchanged): per-output-channel weights on the [-64, 64] grid, output (with the ReLU
    folded in) fake-quantised to its uint8 grid."""
    mods = dict(net.named_modules())
    for name, spec in specs.items():
        conv = mods[name]

        def fwd(x, conv=conv, spec=spec):
            w = conv.weight
            sw = (w.detach().abs().amax((1, 2, 3), keepdim=True) / 64.0).clamp_min(1e-12)
            wq = w + (torch.round(w / sw) * sw - w).detach()
            out = F.conv2d(x, wq, conv.bias, conv.stride, conv.padding)
            return _fq(out, spec)   # lo = zp for ReLU convs: the clamp is the ReLU
        conv.forward = fwd


# ---------------------------------------------------------------------------------------------------------------
# Decoder graphs and cost
# ---------------------------------------------------------------------------------------------------------------
def graphs(model):
    """name -> (module, input shapes at luma HxW as lambda H,W -> list of (C,h,w), decoder-side?)."""
    m = model
    return {k: v for k, v in {
        "i_analysis": (m.i_analysis, lambda H, W: [(6, H // 2, W // 2)], False),
        "i_hyper_enc": (m.i_hyper.h_enc, lambda H, W: [(m.cy, H // 16, W // 16)], False),
        "i_hyper_dec": (m.i_hyper.h_dec, lambda H, W: [(CZ, H // 64, W // 64)], True),
        "i_synth": (m.i_synth, lambda H, W: [(m.cy, H // 16, W // 16)], True),
        "i_analysis_lin": (m.i_analysis_lin, lambda H, W: [(6 * 64, H // 16, W // 16)], False),
        "i_synth_lin": (m.i_synth_lin, lambda H, W: [(m.cy, H // 16, W // 16)], True),
        "p_mv_enc": (m.p_mv_enc, lambda H, W: [(14, H // 2, W // 2)], False),
        "p_mv_hyper_enc": (m.p_mv_hyper.h_enc, lambda H, W: [(m.p_mv_hyper.cy, H // 16, W // 16)], False),
        "p_mv_hyper_dec": (m.p_mv_hyper.h_dec, lambda H, W: [(m.p_mv_hyper.cz, H // 64, W // 64)], True),
        # MvSynth's network, or BlockMv (no convs: the warp alone, which report_macs adds)
        "p_mv_synth": (getattr(m.p_mv_synth, "net", m.p_mv_synth), lambda H, W: [(m.p_mv_hyper.cy, H // 16, W // 16)],
                       True),
        "p_res_enc": (m.p_res_enc, lambda H, W: [(12, H // 2, W // 2)], False),
        "p_res_hyper_enc": (m.p_res_hyper.h_enc, lambda H, W: [(m.cr, H // 16, W // 16)], False),
        "p_res_hyper_dec": (m.p_res_hyper.h_dec, lambda H, W: [(CZR, H // 64, W // 64)], True),
        "p_res_synth": (m.p_res_synth, lambda H, W: [(m.cr, H // 16, W // 16)], True),
        "p_res_enc_lin": (m.p_res_enc_lin, lambda H, W: [(12 * 64, H // 16, W // 16)], False),
        "p_res_synth_lin": (m.p_res_synth_lin, lambda H, W: [(m.cr, H // 16, W // 16)], True),
        "i_post": (m.i_post, lambda H, W: [(6, H // 2, W // 2)], True),     # inside i_synth's graph
        "p_post": (m.p_post, lambda H, W: [(6, H // 2, W // 2)], True),     # inside p_res_synth's graph
        **{f"{prefix}_ctx{k + 1}": (c.net, lambda H, W, c=c: [(c.net[0].in_channels, H // 16, W // 16)], True)
           for prefix, hyp in (("i", m.i_hyper), ("p_mv", m.p_mv_hyper), ("p_res", m.p_res_hyper))
           for k, c in enumerate(hyp.ctx)},
    }.items() if v[0] is not None}   # the linear model has no non-linear analysis / synthesis


def count_macs(module, shape):
    macs = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
            macs[0] += out.numel() * k
    hs = [mm.register_forward_hook(hook) for mm in module.modules() if isinstance(mm, nn.Conv2d)]
    with torch.no_grad():
        out = module(torch.zeros(1, *shape))
    for h in hs:
        h.remove()
    return macs[0], tuple(out.shape[1:])


def report_macs(model, H=720, W=1280):
    # the network pads to a multiple of 64
    Hp, Wp = (H + 63) // 64 * 64, (W + 63) // 64 * 64
    lines, tot = [], {"I": 0, "P": 0}
    warp = 4 * H * W * 3 // 2   # bilinear warp: 4 MACs per output sample (Y + U + V)
    for name, (mod, shp, dec) in graphs(model).items():
        mac, oshape = count_macs(mod, shp(Hp, Wp)[0])
        if name == "p_mv_synth":
            mac += warp
        if name == "i_synth_lin" and model.linear:
            mac *= 2    # export.py splits the linear model's I synthesis weights into two int8 convs (hi + lo)
        lines.append(f"{name:16s} {'dec' if dec else 'enc'}  in {shp(Hp, Wp)[0]} out {oshape}  "
                     f"{mac / 1e9:7.3f} GMAC  {mac / (H * W):7.0f} MAC/px")
        if dec:
            tot["I" if name.startswith("i_") else "P"] += mac
    lines.append(f"decoder total I: {tot['I'] / 1e9:.3f} GMAC ({tot['I'] / (H * W):.0f} MAC/luma px)   "
                 f"P: {tot['P'] / 1e9:.3f} GMAC ({tot['P'] / (H * W):.0f} MAC/luma px)   at {W}x{H} "
                 f"(padded {Wp}x{Hp})")
    return "\n".join(lines)


if __name__ == "__main__":
    # model.py [CKPT]: the cost of a checkpoint's model (default: v1's architecture with its context nets)
    import sys
    if len(sys.argv) > 1:
        net = from_state_dict(torch.load(sys.argv[1], map_location="cpu")["model"])
    else:
        net = NVC(ctx_slices=CTX_SLICES)
    print(report_macs(net))
    n = sum(p.numel() for p in net.parameters())
    print(f"parameters: {n} ({n / 1e6:.2f} M)")
    for name, (mod, _, _) in graphs(net).items():
        print(f"  {name:16s} {sum(p.numel() for p in mod.parameters()):8d} params")

"""Exact numpy mirror of the nvc int8 engine (docs/engine.md, docs/int8-arithmetic.md).

Tensors are integer numpy arrays of shape (C, H, W) with values 0..255 (returned as uint8); their zero
points are static and live in the graph (nvm.Tensor.zp). Every function returns exactly what the C
engine returns, bit for bit. Convolutions use float64 matrix products, which are exact here: every
product and partial sum is an integer below 2^53.

    import nvm, nvcint
    outs = nvcint.run_graph(model.get_graph("i_dec"), {"y": y_q}, quality=10)   # dict name -> uint8 array

`python3 nvcint.py --make-case DIR SEED` writes a random graph using every op (DIR/case.nvm) with inputs
and expected outputs (DIR/case.bin) for the C cross-check (tests/test_nvcint.c).
"""
import struct
import sys

import numpy as np

import nvm


def floor_div(a, b):
    return np.floor_divide(a, b)


def requant(acc, M, S):
    """(acc * M + 2^(S-1)) >> S, exact; M and S broadcast against acc."""
    acc = np.asarray(acc, dtype=np.int64)
    M = np.asarray(M, dtype=np.int64)
    S = np.asarray(S, dtype=np.int64)
    return (acc * M + (np.int64(1) << (S - 1))) >> S


def _out(v, zp_out, lo, hi):
    return np.clip(v + zp_out, lo, hi).astype(np.uint8)


def conv2d(x, zp_in, w, bias, M, S, zp_out, lo, hi, stride=1, depthwise=False, addend=None, zp_addend=0, A=None):
    """With an addend (the output's shape): A * (addend - zp_addend) joins the accumulator before requant."""
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    c, h, wd = x.shape
    k = w.shape[2]
    p = k // 2
    ho, wo = (h - 1) // stride + 1, (wd - 1) // stride + 1
    xp = np.full((c, h + 2 * p, wd + 2 * p), zp_in, dtype=np.float64)
    xp[:, p:p + h, p:p + wd] = x
    cout = w.shape[0]
    acc = np.zeros((cout, ho * wo), dtype=np.float64)
    wf = w.astype(np.float64)
    for ky in range(k):
        for kx in range(k):
            patch = xp[:, ky:ky + (ho - 1) * stride + 1:stride, kx:kx + (wo - 1) * stride + 1:stride]
            patch = patch.reshape(c, ho * wo)
            if depthwise:
                acc += wf[:, 0, ky, kx][:, None] * patch
            else:
                acc += wf[:, :, ky, kx] @ patch
    acc = acc.astype(np.int64).reshape(cout, ho, wo) + np.asarray(bias, dtype=np.int64)[:, None, None]
    if addend is not None:
        addend = np.asarray(addend, np.int64)
        if addend.shape != acc.shape:
            raise ValueError(f"conv2d: addend {addend.shape} for an output of {acc.shape}")
        acc = acc + np.asarray(A, np.int64)[:, None, None] * (addend - zp_addend)
    v = requant(acc, np.asarray(M)[:, None, None], np.asarray(S)[:, None, None])
    return _out(v, zp_out, lo, hi)


def add(a, zp_a, b, zp_b, Ma, Mb, S, zp_out, lo, hi):
    acc = (np.asarray(a, np.int64) - zp_a) * Ma + (np.asarray(b, np.int64) - zp_b) * Mb
    return _out(requant(acc, 1, S), zp_out, lo, hi)


def scale_channels(x, zp_in, M, S, quality, zp_out, lo, hi):
    M, S = np.asarray(M), np.asarray(S)
    if M.ndim == 1:
        M, S = M[None], S[None]
    row = 0 if M.shape[0] == 1 else quality
    if not 0 <= row < M.shape[0]:
        raise ValueError(f"quality {quality} outside the {M.shape[0]} rows of scale_channels")
    v = requant(np.asarray(x, np.int64) - zp_in, M[row][:, None, None], S[row][:, None, None])
    return _out(v, zp_out, lo, hi)


def concat(xs):
    return np.concatenate([np.asarray(x, np.uint8) for x in xs], axis=0)


def slice_channels(x, c0, n):
    return np.asarray(x, np.uint8)[c0:c0 + n].copy()


def depth_to_space(x, r):
    c, h, w = x.shape
    return np.asarray(x, np.uint8).reshape(c // (r * r), r, r, h, w).transpose(0, 3, 1, 4, 2).reshape(
        c // (r * r), h * r, w * r)


def space_to_depth(x, r):
    c, h, w = x.shape
    if h % r or w % r:
        raise ValueError(f"space_to_depth: {h}x{w} not a multiple of {r}")
    return np.asarray(x, np.uint8).reshape(c, h // r, r, w // r, r).transpose(0, 2, 4, 1, 3).reshape(
        c * r * r, h // r, w // r)


def clamp(x, lo, hi):
    return np.clip(np.asarray(x, np.int64), lo, hi).astype(np.uint8)


def _bilinear_taps(n_in, r):
    """Per output coordinate: (index0, index1, weight0, weight1) in units of 1/(2r)."""
    d = 2 * r
    t = 2 * np.arange(n_in * r, dtype=np.int64) + 1 - r
    i0 = floor_div(t, d)
    f = t - i0 * d
    return np.clip(i0, 0, n_in - 1), np.clip(i0 + 1, 0, n_in - 1), d - f, f


def upsample_int(x, r, mode):
    """Upsampling of a signed or unsigned integer (C, H, W) array; returns int64."""
    x = np.asarray(x, dtype=np.int64)
    if mode == "nearest" or mode == 0:
        return np.repeat(np.repeat(x, r, axis=1), r, axis=2)
    c, h, w = x.shape
    y0, y1, wy0, wy1 = _bilinear_taps(h, r)
    x0, x1, wx0, wx1 = _bilinear_taps(w, r)
    s = (wy0[:, None] * wx0[None, :] * x[:, y0][:, :, x0] + wy0[:, None] * wx1[None, :] * x[:, y0][:, :, x1]
         + wy1[:, None] * wx0[None, :] * x[:, y1][:, :, x0] + wy1[:, None] * wx1[None, :] * x[:, y1][:, :, x1])
    d2 = (2 * r) ** 2
    return floor_div(s + d2 // 2, d2)


def upsample(x, r, mode):
    return upsample_int(x, r, mode).astype(np.uint8)


def _sample(plane, mvx, mvy):
    """Integer bilinear sampling of a 2-D plane at (y + mvy/16, x + mvx/16), edges clamped."""
    h, w = plane.shape
    plane = plane.astype(np.int64)
    yy, xx = np.meshgrid(np.arange(h, dtype=np.int64), np.arange(w, dtype=np.int64), indexing="ij")
    x0 = xx + (mvx >> 4)
    y0 = yy + (mvy >> 4)
    fx = mvx & 15
    fy = mvy & 15
    cx0, cx1 = np.clip(x0, 0, w - 1), np.clip(x0 + 1, 0, w - 1)
    cy0, cy1 = np.clip(y0, 0, h - 1), np.clip(y0 + 1, 0, h - 1)
    s = ((16 - fx) * (16 - fy) * plane[cy0, cx0] + fx * (16 - fy) * plane[cy0, cx1]
         + (16 - fx) * fy * plane[cy1, cx0] + fx * fy * plane[cy1, cx1])
    return ((s + 128) >> 8).astype(np.uint8)


def motion_to_mv(motion, zp_motion, r, Mx, Sx, My, Sy):
    """uint8 motion tensor (2, h, w) -> int64 (2, h*r, w*r) vectors in 1/16 luma pel."""
    m = np.asarray(motion, np.int64) - zp_motion
    m0 = np.stack([requant(m[0], Mx, Sx), requant(m[1], My, Sy)])
    m0 = np.clip(m0, -32768, 32767)
    return upsample_int(m0, r, "bilinear")


def warp(ref, motion, zp_motion, r, Mx, Sx, My, Sy):
    ref = np.asarray(ref, np.uint8)
    _, h, w = ref.shape
    if motion.shape[1] * r != 2 * h or motion.shape[2] * r != 2 * w:
        raise ValueError("warp: motion size times r must equal the luma size")
    mv = motion_to_mv(motion, zp_motion, r, Mx, Sx, My, Sy)
    luma = depth_to_space(ref[0:4], 2)[0]
    out = np.empty_like(ref)
    out[0:4] = space_to_depth(_sample(luma, mv[0], mv[1])[None], 2)
    cmx, cmy = mv[0, ::2, ::2] >> 1, mv[1, ::2, ::2] >> 1
    out[4] = _sample(ref[4], cmx, cmy)
    out[5] = _sample(ref[5], cmx, cmy)
    return out


def parse_block_analysis(blob):
    """A block analysis blob (docs/nvm.md) -> (w int64 [C_out][C_in*r*r], bias int64 [C_out], scale [NQ][C_out], r)."""
    if blob[:4] != b"NVBA":
        raise ValueError("not a block analysis blob")
    ver, _, cout, cin, r, nq = struct.unpack_from("<HHIIII", blob, 4)
    n = cin * r * r
    pos = 24
    w = np.frombuffer(blob, "<i2", cout * n, pos).astype(np.int64).reshape(cout, n)
    pos += 2 * cout * n
    bias = np.frombuffer(blob, "<i8", cout, pos).astype(np.int64)
    pos += 8 * cout
    scale = np.frombuffer(blob, "<f8", nq * cout, pos).reshape(nq, cout)
    if ver != 1 or pos + 8 * nq * cout != len(blob):
        raise ValueError("block analysis blob: bad version or size")
    return w, bias, scale, r


def block_analysis(blob, inputs, quality):
    """The encoder's block analysis (export.block_analysis_blob): inputs (packed pictures, zp 128) concatenated,
    space_to_depth(r), acc = w . x + bias exactly (int64), latent = clamp(floor(acc * scale[q] + 0.5), -128, 127)
    + 128 (float64, as the C encoder computes it)."""
    w, bias, scale, r = parse_block_analysis(blob)
    x = space_to_depth(concat(inputs), r).astype(np.int64)
    c, h, wd = x.shape
    acc = (w @ x.reshape(c, -1)) + bias[:, None]        # int64 matmul: exact
    v = np.floor(acc.astype(np.float64) * scale[quality][:, None] + 0.5)
    return (np.clip(v, -128, 127) + 128).astype(np.uint8).reshape(-1, h, wd)


def pack_yuv420(y, u, v, hp, wp):
    """YUV420 planes (h x w luma, even) -> (6, hp/2, wp/2) uint8 tensor (zp 128), edges replicated."""
    h, w = y.shape
    assert h % 2 == 0 and w % 2 == 0 and hp >= h and wp >= w and hp % 2 == 0 and wp % 2 == 0
    yp = np.pad(np.asarray(y, np.uint8), ((0, hp - h), (0, wp - w)), mode="edge")
    up = np.pad(np.asarray(u, np.uint8), ((0, (hp - h) // 2), (0, (wp - w) // 2)), mode="edge")
    vp = np.pad(np.asarray(v, np.uint8), ((0, (hp - h) // 2), (0, (wp - w) // 2)), mode="edge")
    return np.concatenate([space_to_depth(yp[None], 2), up[None], vp[None]])


def unpack_yuv420(t, h, w):
    t = np.asarray(t, np.uint8)
    return depth_to_space(t[0:4], 2)[0][:h, :w], t[4][:h // 2, :w // 2], t[5][:h // 2, :w // 2]


def run_op(graph, op, vals, quality):
    ins = [vals[i] for i in op.inputs]
    zps = [graph.tensors[i].zp for i in op.inputs]
    p, a = op.params, op.arrays
    t = op.type
    if t == nvm.OP_CONV2D:
        k, stride, dw, zp_out, lo, hi = p
        if len(ins) == 2:
            return conv2d(ins[0], zps[0], a[0], a[1], a[2], a[3], zp_out, lo, hi, stride, bool(dw), ins[1], zps[1],
                          a[4])
        return conv2d(ins[0], zps[0], a[0], a[1], a[2], a[3], zp_out, lo, hi, stride, bool(dw))
    if t == nvm.OP_ADD:
        Ma, Mb, S, zp_out, lo, hi = p
        if ins[0].shape != ins[1].shape:
            raise ValueError(f"add: shapes {ins[0].shape} and {ins[1].shape}")
        return add(ins[0], zps[0], ins[1], zps[1], Ma, Mb, S, zp_out, lo, hi)
    if t == nvm.OP_SCALE_CHANNELS:
        nq, zp_out, lo, hi = p
        return scale_channels(ins[0], zps[0], a[0], a[1], quality, zp_out, lo, hi)
    if t == nvm.OP_CONCAT:
        return concat(ins)
    if t == nvm.OP_SLICE:
        return slice_channels(ins[0], p[0], p[1])
    if t == nvm.OP_DEPTH_TO_SPACE:
        return depth_to_space(ins[0], p[0])
    if t == nvm.OP_SPACE_TO_DEPTH:
        return space_to_depth(ins[0], p[0])
    if t == nvm.OP_CLAMP:
        return clamp(ins[0], p[0], p[1])
    if t == nvm.OP_UPSAMPLE:
        return upsample(ins[0], p[0], "nearest" if p[1] == 0 else "bilinear")
    if t == nvm.OP_WARP:
        r, Mx, Sx, My, Sy = p
        return warp(ins[0], ins[1], zps[1], r, Mx, Sx, My, Sy)
    raise ValueError(f"unknown op type {t}")


def run_graph(graph, inputs, quality=0):
    """inputs: dict name -> (C, H, W) integer array (or a list in declaration order)."""
    if isinstance(inputs, dict):
        inputs = [inputs[name] for name, _, _ in graph.inputs]
    vals = []
    for (name, c, _), x in zip(graph.inputs, inputs):
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[0] != c or x.min() < 0 or x.max() > 255:
            raise ValueError(f"input {name}: expected ({c}, H, W) values 0..255, got {x.shape}")
        vals.append(x.astype(np.uint8))
    for op in graph.ops:
        vals.append(run_op(graph, op, vals, quality))
    return {name: vals[i] for name, i in graph.outputs}


# ---- random test case for the C cross-check -----------------------------------------------------------
def _rand_conv(g, rng, x, cout, k, stride=1, depthwise=False, relu=False, extreme=False, addend=None):
    cin = 1 if depthwise else x.c
    if extreme:
        w = rng.choice([-64, 64, 0, 63, -63], size=(cout, cin, k, k))
    else:
        w = rng.integers(-64, 65, size=(cout, cin, k, k))
    A = None
    if addend is not None:
        A = rng.choice([-32768, 32767, 0, 1, -1], size=cout) if extreme else rng.integers(-3000, 3001, size=cout)
    kk = cin * k * k
    bound = (1 << 31) - 1 - kk * 255 * 64 - (0 if A is None else 255 * int(np.abs(A).max()))
    bias = rng.integers(-min(bound, 1 << 20), min(bound, 1 << 20), size=cout)
    if extreme:
        bias[0] = bound
        bias[-1] = -bound
    # multipliers that map the typical accumulator spread onto ~100 output steps, times a random factor
    S = rng.integers(16, 40, size=cout)
    scale = rng.uniform(0.3, 3.0, size=cout) / (np.sqrt(kk) * 64 * 128 * 0.3)
    M = np.minimum(np.round(scale * 2.0 ** S), (1 << 30) - 1).astype(np.int64)
    zp_out = 0 if relu else int(rng.integers(0, 256))
    lo, hi = (zp_out, 255) if relu else (int(rng.integers(0, 40)), int(rng.integers(200, 256)))
    return g.conv2d(x, w, bias, M, S, zp_out, lo, hi, stride, depthwise, addend, A)


def _write_case_bin(path, g, inputs, outs, quality):
    """The case file test_nvcint reads: quality, the inputs (shape, zp, bytes) and the mirror's outputs."""
    with open(path, "wb") as f:
        f.write(struct.pack("<II", quality, len(inputs)))
        for (name, c, zp), x in zip(g.inputs, inputs):
            f.write(struct.pack("<IIII", *x.shape, zp) + np.asarray(x, np.uint8).tobytes())
        f.write(struct.pack("<I", len(g.outputs)))
        for name, idx in g.outputs:
            o = outs[name]
            f.write(struct.pack("<IIII", *o.shape, g.tensors[idx].zp) + o.tobytes())


def make_case(outdir, seed):
    import os
    rng = np.random.default_rng(seed)
    m = nvm.Model(0x4E56430000000000 + seed)
    m.add_blob("meta", b"test blob %d" % seed)
    g = m.graph("g")
    H, W = 8 * int(rng.integers(2, 5)), 8 * int(rng.integers(2, 6))
    pic = g.input("pic", 6, 128)
    mot = g.input("motion", 2, int(rng.integers(100, 156)))
    lat = g.input("latent", 8, 128)
    a = _rand_conv(g, rng, pic, 20, 3, relu=True)
    b = _rand_conv(g, rng, a, 24, 5, stride=2)
    b = _rand_conv(g, rng, b, 24, 3, depthwise=True)
    b = _rand_conv(g, rng, b, 17, 1, extreme=True)
    c = _rand_conv(g, rng, a, 16, 3, stride=2, extreme=True)
    # convs with an addend: dense (17, 24 and 20 channels: full and partial blocks of 16) and depthwise
    ad = _rand_conv(g, rng, b, 17, 3, addend=b)
    ad = _rand_conv(g, rng, ad, 24, 1, extreme=True, addend=_rand_conv(g, rng, b, 24, 1))
    ad2 = _rand_conv(g, rng, pic, 20, 5, stride=1, addend=a)
    ad3 = _rand_conv(g, rng, a, 20, 3, depthwise=True, addend=ad2)
    c = g.clamp(c, 10, 240)
    q = g.scale_channels(c, rng.integers(1, 1 << 20, size=(64, 16)), rng.integers(10, 30, size=(64, 16)), 128)
    q1 = g.scale_channels(c, rng.integers(1, 1 << 20, size=16), rng.integers(10, 30, size=16), b.zp)
    d = g.concat([g.slice(b, 1, 16), q1, b])
    s = g.space_to_depth(g.slice(b, 0, 16), 2)
    s = g.depth_to_space(_rand_conv(g, rng, s, 64, 3), 2)
    e = g.add(s, q, int(rng.integers(-32768, 32768)), int(rng.integers(-32768, 32768)),
              int(rng.integers(10, 20)), 77, 5, 250)
    lu = g.upsample(lat, 2, "bilinear")
    ln = g.upsample(lat, 2, "nearest")
    wp = g.warp(pic, mot, 4, int(rng.integers(1, 1 << 13)), 12, int(rng.integers(1, 1 << 13)), 12)
    g.output("warped", wp)
    g.output("sum", e)
    g.output("up_bilinear", lu)
    g.output("up_nearest", ln)
    g.output("a", a)
    g.output("b", b)
    g.output("concat", d)
    g.output("addend", ad)
    g.output("addend2", ad3)
    inputs = [rng.integers(0, 256, size=(6, H, W)), rng.integers(0, 256, size=(2, 2 * H // 4, 2 * W // 4)),
              rng.integers(0, 256, size=(8, H // 2, W // 2))]
    inputs[0][:, :2, :2] = 0
    inputs[0][:, -2:, -2:] = 255
    quality = int(rng.integers(0, 64))
    outs = run_graph(g, inputs, quality)
    os.makedirs(outdir, exist_ok=True)
    nvm.write_nvm(os.path.join(outdir, "case.nvm"), m)
    _write_case_bin(os.path.join(outdir, "case.bin"), g, inputs, outs, quality)
    # the reader must give back the same graph
    again = run_graph(nvm.read_nvm(os.path.join(outdir, "case.nvm")).get_graph("g"), inputs, quality)
    assert all(np.array_equal(again[k], outs[k]) for k in outs)


def make_tiny_model(seed):
    """A small model (a few KB) using every op, for the loader tests and the fuzzing seed corpus.
    Graph "g": inputs pic (6 x H x W), motion (2 x H/2 x W/2), latent (4 x H/2 x W/2), H and W
    multiples of 4. Graph "tiny2": input x (3 channels, any size), a conv with an addend (tests/fuzz/corpus/
    fuzz_nvm/tiny3.nvm is seed 3)."""
    rng = np.random.default_rng(seed)
    m = nvm.Model(0x4E5643544E590000 + seed)
    m.add_blob("gains", bytes(range(64)))
    g = m.graph("g")
    pic = g.input("pic", 6, 128)
    mot = g.input("motion", 2, 128)
    lat = g.input("latent", 4, 128)
    a = _rand_conv(g, rng, pic, 8, 3, relu=True)
    b = _rand_conv(g, rng, a, 8, 5, stride=2)
    b = _rand_conv(g, rng, b, 8, 3, depthwise=True)
    b = _rand_conv(g, rng, b, 4, 1)
    q = g.scale_channels(b, rng.integers(1, 1 << 16, size=(2, 4)), rng.integers(10, 20, size=(2, 4)), 128)
    q = g.clamp(q, 3, 250)
    s = g.depth_to_space(g.space_to_depth(q, 2), 2)
    c = g.concat([s, g.slice(g.scale_channels(b, [1 << 12] * 4, [12] * 4, 128), 1, 2)])
    e = g.slice(c, 0, 4)
    e = g.add(e, q, 3000, -2000, 12, 128)
    wp = g.warp(pic, mot, 4, 1 << 12, 12, 1 << 12, 12)
    g.output("warped", wp)
    g.output("e", e)
    g.output("up", g.upsample(lat, 2, "bilinear"))
    g2 = m.graph("tiny2")
    x = g2.input("x", 3, 0)
    y = _rand_conv(g2, rng, x, 5, 1)
    g2.output("y", g2.upsample(_rand_conv(g2, rng, x, 5, 3, addend=y), 3, "nearest"))   # a conv with an addend
    return m


def write_case(outdir, model_path, graph, sizes, seed, quality=None):
    """Random inputs for one graph of an existing model (sizes: [(H, W)] per input), its outputs by the
    mirror, in the case format of make_case (DIR/case.bin; DIR/case.nvm is a copy of the model)."""
    import os
    import shutil
    rng = np.random.default_rng(seed)
    g = nvm.read_nvm(model_path).get_graph(graph)
    inputs = [rng.integers(0, 256, size=(c, h, w)) for (_, c, _), (h, w) in zip(g.inputs, sizes)]
    if quality is None:
        quality = int(rng.integers(0, 64))
    outs = run_graph(g, inputs, quality)
    os.makedirs(outdir, exist_ok=True)
    shutil.copyfile(model_path, os.path.join(outdir, "case.nvm"))
    _write_case_bin(os.path.join(outdir, "case.bin"), g, inputs, outs, quality)


# luma subsampling of each named graph input of the codec's models (docs/model.md "Graphs")
INPUT_DIVISOR = {"picture": 2, "prev": 2, "pred": 2, "search_mv": 8, "block_mv": 16, "latent": 16, "hyper_latent": 64, "mean": 16,
                 "scale_idx": 16}


def write_model_cases(outdir, model_path, H, W, seed):
    """One case per graph of a codec model (DIR/<graph>/), inputs sized for an HxW luma picture; prints the
    graph names (for tests/model_mirror.sh)."""
    import os
    for i, g in enumerate(nvm.read_nvm(model_path).graphs):
        sizes = [(H // INPUT_DIVISOR[n], W // INPUT_DIVISOR[n]) for n, _, _ in g.inputs]
        write_case(os.path.join(outdir, g.name), model_path, g.name, sizes, seed + i)
        print(g.name)


def write_analysis_case(outdir, model_path, blob_name, H, W, seed):
    """Random packed pictures (H x W luma) for a block analysis blob of a model, and the mirror's latent at a random
    quality: DIR/case.nvm (a copy of the model), DIR/case.bin (u32 quality, u32 n, the n inputs, the latent; each
    u32 c, h, w, zp and the bytes), for build/tests/test_block_analysis DIR BLOB."""
    import os
    import shutil
    rng = np.random.default_rng(seed)
    blob = nvm.read_nvm(model_path).blob(blob_name)
    w, _, scale, r = parse_block_analysis(blob)
    cin = w.shape[1] // (r * r)
    inputs = [rng.integers(0, 256, size=(6, H // 2, W // 2)).astype(np.uint8) for _ in range(cin // 6)]
    quality = int(rng.integers(0, scale.shape[0]))
    out = block_analysis(blob, inputs, quality)
    os.makedirs(outdir, exist_ok=True)
    shutil.copyfile(model_path, os.path.join(outdir, "case.nvm"))
    with open(os.path.join(outdir, "case.bin"), "wb") as f:
        f.write(struct.pack("<II", quality, len(inputs)))
        for t in inputs + [out]:
            f.write(struct.pack("<IIII", *t.shape, 128) + np.ascontiguousarray(t, np.uint8).tobytes())


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--make-case":
        make_case(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "--make-tiny":
        nvm.write_nvm(sys.argv[2], make_tiny_model(int(sys.argv[3])))
    elif len(sys.argv) in (7, 8) and sys.argv[1] == "--graph-case":
        # --graph-case MODEL GRAPH HxW[,HxW...] DIR SEED [QUALITY]: check a real model's graph in C with
        #   build/tests/test_nvcint DIR GRAPH
        sizes = [tuple(int(v) for v in s.split("x")) for s in sys.argv[4].split(",")]
        write_case(sys.argv[5], sys.argv[2], sys.argv[3], sizes, int(sys.argv[6]),
                   int(sys.argv[7]) if len(sys.argv) == 8 else None)
    elif len(sys.argv) == 6 and sys.argv[1] == "--model-cases":
        # --model-cases MODEL HxW DIR SEED: every graph of a codec model (tests/model_mirror.sh)
        h, w = (int(v) for v in sys.argv[3].split("x"))
        write_model_cases(sys.argv[4], sys.argv[2], h, w, int(sys.argv[5]))
    elif len(sys.argv) == 7 and sys.argv[1] == "--analysis-case":
        # --analysis-case MODEL BLOB HxW DIR SEED: a block analysis blob of a model (tests/model_mirror.sh)
        h, w = (int(v) for v in sys.argv[4].split("x"))
        write_analysis_case(sys.argv[5], sys.argv[2], sys.argv[3], h, w, int(sys.argv[6]))
    else:
        sys.exit("usage: nvcint.py --make-case DIR SEED | --make-tiny FILE SEED | --analysis-case MODEL BLOB HxW DIR SEED |"
                 " --graph-case MODEL GRAPH HxW[,HxW...] DIR SEED [QUALITY] | --model-cases MODEL HxW DIR SEED")

"""Graph builder and .nvm writer/reader for the nvc int8 engine.

Semantics of every op: docs/engine.md. File format: docs/nvm.md. Exact integer mirror: nvcint.py.

    from nvm import Model, write_nvm, read_nvm
    m = Model(model_id=0x1234)
    g = m.graph("i_dec")
    y = g.input("y", c=192, zp=128)
    h = g.conv2d(y, w, bias, M, S, zp_out=0, lo=0, hi=255)      # w int8 [Cout][Cin][k][k]
    h = g.depth_to_space(h, 2)
    g.output("x_hat", h)
    m.add_blob("gains", some_bytes)
    write_nvm("model.nvm", m)

All values are validated here exactly as the C loader validates them, so a file this module writes is
accepted by the engine. Arrays may be any integer numpy arrays / nested lists.
"""
import ctypes
import ctypes.util
import struct
import subprocess
import zlib

import numpy as np

MAGIC = b"NVCMODEL"
VERSION = 1
HEADER_SIZE = 64

OP_CONV2D = 1
OP_ADD = 2
OP_SCALE_CHANNELS = 3
OP_CONCAT = 4
OP_SLICE = 5
OP_DEPTH_TO_SPACE = 6
OP_SPACE_TO_DEPTH = 7
OP_CLAMP = 8
OP_UPSAMPLE = 9
OP_WARP = 10

OP_NAMES = {OP_CONV2D: "conv2d", OP_ADD: "add", OP_SCALE_CHANNELS: "scale_channels",
            OP_CONCAT: "concat", OP_SLICE: "slice", OP_DEPTH_TO_SPACE: "depth_to_space",
            OP_SPACE_TO_DEPTH: "space_to_depth", OP_CLAMP: "clamp", OP_UPSAMPLE: "upsample",
            OP_WARP: "warp"}

# Limits shared with network/model.c (the loader rejects anything beyond them).
MAX_CHANNELS = 4096
MAX_GRAPHS = 64
MAX_OPS = 4096
MAX_IO = 64
MAX_CONCAT = 16
MAX_BLOBS = 256
MAX_NAME = 255
WEIGHT_MAX = 64
M_LIMIT = 1 << 30
QUALITIES = 64


class NvmError(ValueError):
    pass


def _check(cond, msg):
    if not cond:
        raise NvmError(msg)


def _ints(a, dtype, lo, hi, what):
    arr = np.asarray(a)
    _check(arr.dtype.kind in "iub", f"{what}: integer array required, got {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size:
        _check(arr.min() >= lo and arr.max() <= hi, f"{what}: values must be in [{lo}, {hi}], "
               f"got [{arr.min()}, {arr.max()}]")
    return arr.astype(dtype)


def _check_name(name):
    _check(isinstance(name, str) and 1 <= len(name.encode()) <= MAX_NAME, f"bad name {name!r}")
    _check(all(ch.isalnum() or ch in "_.-" for ch in name), f"name {name!r}: use [A-Za-z0-9_.-]")


def pair_lane_sums(w):
    """Per output channel of dense conv weights w [Cout][Cin][k][k]: the largest sum of |w| over the 4
    weights that share one int16 lane when the AVX2 conv adds two vpmaddubsw results (input channels
    {8h+j, 8h+j+1, 8h+4+j, 8h+5+j}, j in {0, 2}, same tap). A block of 16 output channels whose values
    are all <= 128 runs the faster exact path (docs/engine.md, "Speed notes"); an exporter may scale a
    channel's weights by 128 / value (and its requantisation multiplier back) to get there."""
    w = np.abs(np.asarray(w, dtype=np.int64))
    co, ci = w.shape[:2]
    ci8 = (ci + 7) // 8 * 8
    wp = np.zeros((co, ci8) + w.shape[2:], np.int64)
    wp[:, :ci] = w
    wp = wp.reshape((co, ci8 // 8, 8) + w.shape[2:])
    lanes = [wp[:, :, [j, j + 1, j + 4, j + 5]].sum(axis=2) for j in (0, 2)]
    return np.maximum(*[lane.reshape(co, -1).max(axis=1) for lane in lanes])


class Tensor:
    """A value in a graph: `c` channels and zero point `zp` are static; H and W come at run time."""

    def __init__(self, graph, index, c, zp):
        self.graph, self.index, self.c, self.zp = graph, index, c, zp

    def __repr__(self):
        return f"Tensor(#{self.index}, c={self.c}, zp={self.zp})"


class Op:
    def __init__(self, type_, inputs, c_out, zp_out, params, arrays):
        self.type = type_
        self.inputs = inputs          # tensor indices
        self.c_out = c_out
        self.zp_out = zp_out
        self.params = [int(p) for p in params]
        self.arrays = arrays          # numpy arrays (int8 / int32), flattened in C order when written

    @property
    def name(self):
        return OP_NAMES[self.type]


def _check_zp_range(zp_out, lo, hi):
    _check(0 <= zp_out <= 255, f"zp_out {zp_out} not in [0, 255]")
    _check(0 <= lo <= hi <= 255, f"need 0 <= lo <= hi <= 255, got lo={lo} hi={hi}")


def _check_requant(M, S, what):
    M = _ints(M, np.int32, 0, M_LIMIT - 1, what + " M")
    S = _ints(S, np.int32, 1, 62, what + " S")
    return M, S


class Graph:
    def __init__(self, name):
        _check_name(name)
        self.name = name
        self.inputs = []      # (name, c, zp)
        self.ops = []
        self.outputs = []     # (name, tensor index)
        self.tensors = []     # Tensor per index: inputs first, then one per op

    # -- building ---------------------------------------------------------------------------------
    def _tensor(self, c, zp):
        t = Tensor(self, len(self.tensors), c, zp)
        self.tensors.append(t)
        return t

    def _own(self, t):
        _check(isinstance(t, Tensor) and t.graph is self, f"{t!r} does not belong to graph {self.name}")
        return t.index

    def _add(self, type_, inputs, c_out, zp_out, params=(), arrays=()):
        _check(len(self.ops) < MAX_OPS, "too many ops")
        _check(1 <= c_out <= MAX_CHANNELS, f"{OP_NAMES[type_]}: {c_out} output channels")
        self.ops.append(Op(type_, [self._own(t) for t in inputs], c_out, zp_out, params, list(arrays)))
        return self._tensor(c_out, zp_out)

    def input(self, name, c, zp):
        _check(not self.ops, "declare inputs before ops")
        _check(len(self.inputs) < MAX_IO, "too many inputs")
        _check_name(name)
        _check(name not in [n for n, _, _ in self.inputs], f"duplicate input {name}")
        _check(1 <= c <= MAX_CHANNELS and 0 <= zp <= 255, f"input {name}: bad c={c} or zp={zp}")
        self.inputs.append((name, int(c), int(zp)))
        return self._tensor(int(c), int(zp))

    def output(self, name, t):
        _check_name(name)
        _check(len(self.outputs) < MAX_IO, "too many outputs")
        _check(name not in [n for n, _ in self.outputs], f"duplicate output {name}")
        self.outputs.append((name, self._own(t)))

    def conv2d(self, x, w, bias, M, S, zp_out, lo=0, hi=255, stride=1, depthwise=False, addend=None, A=None):
        """addend (a tensor of the output's channels and size) and A (int16 range, one per output channel): the
        accumulator also gets A * (addend - zp_addend) before the requantisation (docs/engine.md)."""
        w = np.asarray(w)
        _check(w.ndim == 4 and w.shape[2] == w.shape[3] and w.shape[2] in (1, 3, 5),
               f"conv2d: weights must be [Cout][Cin][k][k] with k in 1,3,5, got {w.shape}")
        cout, k = w.shape[0], w.shape[2]
        if depthwise:
            _check(w.shape[1] == 1 and cout == x.c, f"depthwise conv2d: weights {w.shape} for {x.c} channels")
        else:
            _check(w.shape[1] == x.c, f"conv2d: weights {w.shape} for an input of {x.c} channels")
        _check(stride in (1, 2), "conv2d: stride must be 1 or 2")
        _check_zp_range(zp_out, lo, hi)
        w = _ints(w, np.int8, -WEIGHT_MAX, WEIGHT_MAX, "conv2d weights")
        _check((addend is None) == (A is None), "conv2d: an addend needs A and A an addend")
        extra = 0
        if addend is not None:
            _check(addend.c == cout, f"conv2d: addend of {addend.c} channels for {cout} outputs")
            A = _ints(A, np.int32, -32768, 32767, "conv2d A")
            _check(A.shape == (cout,), "conv2d: A must have one value per output channel")
            extra = 255 * int(np.abs(A).max())
        kk = w.shape[1] * k * k
        bound = (1 << 31) - 1 - kk * 255 * WEIGHT_MAX - extra
        _check(bound > 0, "conv2d: receptive field too large for int32 accumulation")
        bias = _ints(bias, np.int32, -bound, bound, "conv2d bias (|bias| + K*255*64 [+ 255*max|A|] < 2^31)")
        M, S = _check_requant(M, S, "conv2d")
        _check(bias.shape == (cout,) and M.shape == (cout,) and S.shape == (cout,),
               "conv2d: bias, M, S must have one value per output channel")
        ins, arrays = ([x], [w, bias, M, S]) if addend is None else ([x, addend], [w, bias, M, S, A])
        return self._add(OP_CONV2D, ins, cout, zp_out, [k, stride, int(bool(depthwise)), zp_out, lo, hi], arrays)

    def add(self, a, b, Ma, Mb, S, zp_out, lo=0, hi=255):
        _check(a.c == b.c, f"add: {a.c} vs {b.c} channels")
        _check(-32768 <= Ma <= 32767 and -32768 <= Mb <= 32767, "add: Ma, Mb must be int16")
        _check(1 <= S <= 30, "add: S must be in [1, 30]")
        _check_zp_range(zp_out, lo, hi)
        return self._add(OP_ADD, [a, b], a.c, zp_out, [Ma, Mb, S, zp_out, lo, hi])

    def scale_channels(self, x, M, S, zp_out, lo=0, hi=255):
        M, S = _check_requant(M, S, "scale_channels")
        if M.ndim == 1:
            M, S = M[None, :], S[None, :]
        _check(M.ndim == 2 and M.shape == S.shape and M.shape[1] == x.c and 1 <= M.shape[0] <= QUALITIES,
               f"scale_channels: M and S must be [NQ][{x.c}] with 1 <= NQ <= {QUALITIES}")
        _check_zp_range(zp_out, lo, hi)
        return self._add(OP_SCALE_CHANNELS, [x], x.c, zp_out, [M.shape[0], zp_out, lo, hi], [M, S])

    def concat(self, xs):
        _check(2 <= len(xs) <= MAX_CONCAT, f"concat: 2..{MAX_CONCAT} inputs")
        _check(len({t.zp for t in xs}) == 1, "concat: inputs must share one zero point")
        return self._add(OP_CONCAT, xs, sum(t.c for t in xs), xs[0].zp)

    def slice(self, x, c0, n):
        _check(0 <= c0 and 1 <= n and c0 + n <= x.c, f"slice: [{c0}, {c0 + n}) of {x.c} channels")
        return self._add(OP_SLICE, [x], n, x.zp, [c0, n])

    def depth_to_space(self, x, r):
        _check(2 <= r <= 8 and x.c % (r * r) == 0, f"depth_to_space: r={r} with {x.c} channels")
        return self._add(OP_DEPTH_TO_SPACE, [x], x.c // (r * r), x.zp, [r])

    def space_to_depth(self, x, r):
        _check(2 <= r <= 8, f"space_to_depth: r={r}")
        return self._add(OP_SPACE_TO_DEPTH, [x], x.c * r * r, x.zp, [r])

    def clamp(self, x, lo, hi):
        _check(0 <= lo <= hi <= 255, "clamp: need 0 <= lo <= hi <= 255")
        return self._add(OP_CLAMP, [x], x.c, x.zp, [lo, hi])

    def upsample(self, x, r, mode="bilinear"):
        _check(1 <= r <= 16 and mode in ("nearest", "bilinear"), f"upsample: r={r} mode={mode}")
        return self._add(OP_UPSAMPLE, [x], x.c, x.zp, [r, 0 if mode == "nearest" else 1])

    def warp(self, ref, motion, r, Mx, Sx, My, Sy):
        _check(ref.c == 6 and motion.c == 2, "warp: ref must have 6 channels, motion 2")
        _check(1 <= r <= 64, "warp: r in 1..64")
        for Mv, Sv in ((Mx, Sx), (My, Sy)):
            _check(0 <= Mv < M_LIMIT and 1 <= Sv <= 62, "warp: M in [0, 2^30), S in [1, 62]")
        return self._add(OP_WARP, [ref, motion], 6, ref.zp, [r, Mx, Sx, My, Sy])


class Model:
    def __init__(self, model_id):
        _check(0 <= model_id < (1 << 64), "model_id is a u64")
        self.model_id = int(model_id)
        self.graphs = []
        self.blobs = []   # (name, bytes)

    def graph(self, name):
        _check(name not in [g.name for g in self.graphs], f"duplicate graph {name}")
        _check(len(self.graphs) < MAX_GRAPHS, "too many graphs")
        g = Graph(name)
        self.graphs.append(g)
        return g

    def has_graph(self, name):
        return any(g.name == name for g in self.graphs)

    def get_graph(self, name):
        for g in self.graphs:
            if g.name == name:
                return g
        raise KeyError(name)

    def add_blob(self, name, data):
        _check_name(name)
        _check(name not in [n for n, _ in self.blobs], f"duplicate blob {name}")
        _check(len(self.blobs) < MAX_BLOBS, "too many blobs")
        self.blobs.append((name, bytes(data)))

    def blob(self, name):
        return dict(self.blobs)[name]


# ---- zstd through the system library (Debian's libzstd1), falling back to the zstd command ---------
_zstd = None


def _libzstd():
    global _zstd
    if _zstd is None:
        path = ctypes.util.find_library("zstd") or "libzstd.so.1"
        try:
            lib = ctypes.CDLL(path)
            lib.ZSTD_compressBound.restype = ctypes.c_size_t
            lib.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
            lib.ZSTD_compress.restype = ctypes.c_size_t
            lib.ZSTD_compress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                                          ctypes.c_int]
            lib.ZSTD_decompress.restype = ctypes.c_size_t
            lib.ZSTD_decompress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
            lib.ZSTD_isError.restype = ctypes.c_uint
            lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
            _zstd = lib
        except OSError:
            _zstd = False
    return _zstd


def zstd_compress(data, level=19):
    lib = _libzstd()
    if not lib:
        return subprocess.run(["zstd", "-q", f"-{level}", "-c"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    cap = lib.ZSTD_compressBound(len(data))
    out = ctypes.create_string_buffer(cap)
    n = lib.ZSTD_compress(out, cap, data, len(data), level)
    _check(not lib.ZSTD_isError(n), "zstd compression failed")
    return out.raw[:n]


def zstd_decompress(data, raw_size):
    lib = _libzstd()
    if not lib:
        return subprocess.run(["zstd", "-q", "-d", "-c"], input=data, check=True, stdout=subprocess.PIPE).stdout
    out = ctypes.create_string_buffer(max(raw_size, 1))
    n = lib.ZSTD_decompress(out, raw_size, data, len(data))
    _check(not lib.ZSTD_isError(n) and n == raw_size, "zstd: corrupt data section")
    return out.raw[:n]


# ---- serialisation (docs/nvm.md) -------------------------------------------------------------------
class _Writer:
    def __init__(self):
        self.graph = bytearray()
        self.data = bytearray()

    def u16(self, v):
        self.graph += struct.pack("<H", v)

    def u32(self, v):
        self.graph += struct.pack("<I", v)

    def i32(self, v):
        self.graph += struct.pack("<i", v)

    def name(self, s):
        b = s.encode()
        self.u16(len(b))
        self.graph += b

    def array(self, raw):
        while len(self.data) % 64:
            self.data.append(0)
        off = len(self.data)
        self.data += raw
        self.u32(off)
        self.u32(len(raw))


def serialize(model):
    w = _Writer()
    w.u32(len(model.blobs))
    for name, data in model.blobs:
        w.name(name)
        w.array(data)
    w.u32(len(model.graphs))
    for g in model.graphs:
        _check(g.outputs, f"graph {g.name} has no outputs")
        w.name(g.name)
        w.u32(len(g.inputs))
        for name, c, zp in g.inputs:
            w.name(name)
            w.u32(c)
            w.u32(zp)
        w.u32(len(g.ops))
        for op in g.ops:
            w.u32(op.type)
            w.u32(len(op.inputs))
            for i in op.inputs:
                w.u32(i)
            w.u32(op.c_out)
            w.u32(op.zp_out)
            w.u32(len(op.params))
            for p in op.params:
                w.i32(p)
            w.u32(len(op.arrays))
            for a in op.arrays:
                w.array(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes())
        w.u32(len(g.outputs))
        for name, idx in g.outputs:
            w.name(name)
            w.u32(idx)
    graph, data = bytes(w.graph), bytes(w.data)
    comp = zstd_compress(data)
    _check(len(graph) < (1 << 32) and len(comp) < (1 << 32) and len(data) < (1 << 32), "model too large")
    head = MAGIC + struct.pack("<IIQIII", VERSION, HEADER_SIZE, model.model_id, len(graph), len(comp), len(data))
    tail = bytes(HEADER_SIZE - len(head) - 4) + graph + comp
    crc = zlib.crc32(head + tail) & 0xFFFFFFFF   # every byte but the checksum field itself
    return head + struct.pack("<I", crc) + tail


def write_nvm(path, model):
    """Writes the model atomically (temporary file, then rename)."""
    import os
    blob = serialize(model)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, path)


# Array element types per op, in the order of Op.arrays (for the reader).
_ARRAY_TYPES = {OP_CONV2D: (np.int8, np.int32, np.int32, np.int32, np.int32),   # the fifth (A) with an addend
                OP_SCALE_CHANNELS: (np.int32, np.int32)}


def parse(blob):
    """Reads a .nvm image back into a Model (light validation; the C loader is the strict one)."""
    _check(len(blob) >= HEADER_SIZE and blob[:8] == MAGIC, "not an .nvm file")
    version, hsize, model_id, glen, clen, rlen, crc = struct.unpack_from("<IIQIIII", blob, 8)
    _check(version == VERSION and hsize == HEADER_SIZE, f"unsupported .nvm version {version}")
    _check(len(blob) == HEADER_SIZE + glen + clen, "truncated or oversized .nvm")
    graph = blob[HEADER_SIZE:HEADER_SIZE + glen]
    comp = blob[HEADER_SIZE + glen:]
    _check(zlib.crc32(blob[:36] + blob[40:]) & 0xFFFFFFFF == crc, "checksum mismatch")
    data = zstd_decompress(comp, rlen)
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, graph, pos)
        pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def name():
        nonlocal pos
        n = take("<H")
        s = graph[pos:pos + n].decode()
        pos += n
        return s

    def array():
        off, size = take("<II")
        return data[off:off + size]

    m = Model(model_id)
    for _ in range(take("<I")):
        n = name()
        m.add_blob(n, array())
    for _ in range(take("<I")):
        g = m.graph(name())
        for _ in range(take("<I")):
            n = name()
            c, zp = take("<II")
            g.input(n, c, zp)
        for _ in range(take("<I")):
            type_ = take("<I")
            ins = [take("<I") for _ in range(take("<I"))]
            c_out, zp_out = take("<II")
            params = [take("<i") for _ in range(take("<I"))]
            raws = [array() for _ in range(take("<I"))]
            types = _ARRAY_TYPES.get(type_, ())
            arrays = [np.frombuffer(r, dtype=np.dtype(t).newbyteorder("<")).astype(t) for r, t in zip(raws, types)]
            g.ops.append(Op(type_, ins, c_out, zp_out, params, arrays))
            g._tensor(c_out, zp_out)
        for _ in range(take("<I")):
            n = name()
            g.outputs.append((n, take("<I")))
    # conv weights come back flat: restore their shapes from c_out / input channels / k
    for g in m.graphs:
        for op in g.ops:
            if op.type == OP_CONV2D:
                k, dw = op.params[0], op.params[2]
                cin = 1 if dw else g.tensors[op.inputs[0]].c
                op.arrays[0] = op.arrays[0].reshape(op.c_out, cin, k, k)
            elif op.type == OP_SCALE_CHANNELS:
                nq = op.params[0]
                op.arrays = [a.reshape(nq, op.c_out) for a in op.arrays]
    return m


def read_nvm(path):
    with open(path, "rb") as f:
        return parse(f.read())

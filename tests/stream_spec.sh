#!/bin/sh
# An independent reading of docs/bitstream.md: a Python parser written from the specification's tables (zlib's
# CRC-32) must accept the streams the C writer produces, field by field, including the index and trailer.
BUILD=${BUILD:-build}
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
"$BUILD/tests/test_stream" --write-corpus "$tmp" || exit 1
# and the conformance streams: real payloads, P-frames of every kind, formats 2.2, 2.3 and 3.0
python3 - "$tmp"/seed0.nvc "$tmp"/seed1.nvc "$tmp"/seed2.nvc testvectors/*.nvc <<'PY'
import struct, sys, zlib

def u(fmt, b, off):
    return struct.unpack_from('<' + fmt, b, off)

for path in sys.argv[1:]:
    b = open(path, 'rb').read()
    assert b[:8] == bytes([0x8A, 0x4E, 0x56, 0x43, 0x0D, 0x0A, 0x1A, 0x0A]), 'magic'
    major, minor, hsize, flags, w, h, fn, fd = u('HHHHHHII', b, 8)
    assert (major == 2 and minor <= 3 or major == 3 and minor <= 1) and (hsize, flags) == (64, 0), "version/size/flags"
    # P-frame flags: 2.1 bits 0, 1; 2.3 bit 2. I-frame flag: 2.3 bit 3 (block means, segment 2). Both: 3.1 bit 4
    # (scale shifts, the last segment)
    shift = 48 if (major, minor) >= (3, 1) else 0   # bits 4, 5: scale shifts, fitted tables
    known = (7 if (major, minor) >= (2, 3) else 3 if minor >= 1 else 0) | shift
    known_i = (8 if (major, minor) >= (2, 3) else 0) | shift
    assert zlib.crc32(b[:hsize - 4]) == u('I', b, hsize - 4)[0], 'header crc'
    assert w % 2 == 0 and h % 2 == 0 and 2 <= w <= 8192 and 2 <= h <= 8192 and fn >= 1 and fd >= 1
    prim, trc, mat, rng, chroma, depth, gop, count, model = u('BBBBBBHII', b, 28)
    assert chroma == 1 and depth == 8 and rng in (0, 1)
    name = b[44:60].rstrip(b'\0')
    assert all(0x20 <= c <= 0x7E for c in name), 'model name'
    pos, frames, iframes, last, flagged, mv_context, means, shifted = hsize, 0, [], -1, 0, 0, 0, 0

    def varint(b, q, end):   # LEB128: at most 5 bytes, below 2^32, minimal
        v = 0
        for i in range(5):
            assert q < end, 'varint past the header'
            c = b[q]; q += 1
            v |= (c & 0x7F) << (7 * i)
            if not c & 0x80:
                assert not (i > 0 and c == 0) and v < 1 << 32, 'varint'
                return v, q
        raise AssertionError('varint longer than 5 bytes')

    while b[pos:pos + 4] == b'NVCF':
        if major == 2:   # fixed-width layout
            fhs, ftype, q, num, psize, pcrc, nseg, fflags = u('HBBIIIBB', b, pos + 4)
            subs = u('%dH' % nseg, b, pos + 22)
            S = sum(subs)
            sizes = u('%dI' % S, b, pos + 22 + 2 * nseg)
            assert fhs == 26 + 2 * nseg + 4 * S, 'frame header size'
            assert sum(sizes) == psize
        else:            # compact layout (3.0): varints, a left-out segment lists 0 substreams
            fhs, ftype, q, fflags, nseg = u('HBBBB', b, pos + 4)
            end = pos + fhs - 4
            num, qq = varint(b, pos + 10, end)
            listed = []
            for s in range(nseg):
                n, qq = varint(b, qq, end)
                listed.append(n)
            sizes = []
            for n in listed:
                seg = []
                for i in range(n):
                    v, qq = varint(b, qq, end)
                    seg.append(v)
                assert seg != [0], 'one empty substream is listed as 0 substreams'
                sizes += seg if n else [0]
            subs = tuple(n if n else 1 for n in listed)
            S = sum(subs)
            psize = sum(sizes)
            pcrc = 0
            if psize:
                pcrc = u('I', b, qq)[0]
                qq += 4
            assert qq == end, 'frame header size'
        assert ftype in (0, 1) and q <= 63 and 1 <= nseg <= 8
        assert fflags == 0 or (ftype == 1 and fflags & ~known == 0 and fflags & 5 != 5 and not (fflags & 2 and fflags & 48)) or \
            (ftype == 0 and fflags & ~known_i == 0), 'frame flags'
        extra = 1 if fflags & 16 else 0
        if fflags & 16:   # scale shifts: the last segment, one substream of at least 1 byte
            assert subs[nseg - 1] == 1 and sizes[-1] >= 1, 'scale-shift segment'
            shifted += 1
        if ftype == 0:    # I: y's hyper-latent and latent, the block means (flag 8), the shifts
            assert nseg == 2 + (1 if fflags & 8 else 0) + extra, 'I-frame segments'
        else:
            assert nseg == 4 + extra, 'P-frame segments'
        if ftype == 0 and fflags & 8:   # block means: segment 2, one substream
            assert subs[2] == 1, 'I-frame block-means segment'
            means += 1
        assert all(1 <= s <= 1024 for s in subs) and S <= 2048
        for bit, first, n in ((1, 0, 2), (2, 2, 2), (4, 0, 1)):   # segments left out: one empty substream each
            if fflags & bit and ftype == 1:
                assert all(subs[first + i] == 1 for i in range(n)), 'flagged-off segments'
                k = sum(subs[:first])
                assert all(sizes[k + i] == 0 for i in range(n)), 'flagged-off substreams'
        if fflags & 4 and ftype == 1:   # MV_CONTEXT: the vectors in segment 1, one substream
            assert subs[1] == 1, 'context-coded vectors'
            mv_context += 1
        flagged += ftype == 1 and fflags != 0
        assert zlib.crc32(b[pos:pos + fhs - 4]) == u('I', b, pos + fhs - 4)[0], 'frame header crc'
        assert psize == 0 or zlib.crc32(b[pos + fhs:pos + fhs + psize]) == pcrc, 'payload crc'
        assert num > last and (frames > 0 or ftype == 0), 'frame order'
        if ftype == 0:
            iframes.append((num, pos))
        last, frames, pos = num, frames + 1, pos + fhs + psize
    assert b[pos:pos + 4] == b'NVCI', 'index marker'
    n = u('I', b, pos + 4)[0]
    entries = [u('IQ', b, pos + 8 + 12 * i) for i in range(n)]
    assert zlib.crc32(b[pos:pos + 8 + 12 * n]) == u('I', b, pos + 8 + 12 * n)[0], 'index crc'
    assert entries == iframes, 'index entries'
    trailer = b[-16:]
    assert u('Q', trailer, 0)[0] == pos and zlib.crc32(trailer[:8]) == u('I', trailer, 8)[0]
    assert trailer[12:] == b'NVCE' and pos + 12 + 12 * n + 16 == len(b), 'trailer'
    assert count == frames, 'frame count'
    print('%s: format %d.%d, %d frames, %d I-frames (%d with context-coded block means), %d flagged P-frames '
          '(%d with context-coded vectors), %d frames with scale shifts: conforms'
          % (path, major, minor, frames, n, means, flagged, mv_context, shifted))
PY

#!/usr/bin/env python3
"""Tiny InsightFace-style .bin validation sets for test/eval.bin.test.ts.

A .bin file is pickle((bins, issame_list)): bins the encoded image files, issame_list one bool
per pair (pair i = images 2i, 2i+1). InsightFace's src/data/lfw2pack.py wrote the public files
under Python 2 with protocol 2, so the images are py2 `str` (SHORT_BINSTRING / BINSTRING); that
stream is assembled here opcode by opcode, as cPickle writes it. Variants as Python 3 writes
them: bytes at the highest protocol (BINBYTES), bytes at protocol 2 (_codecs.encode), and, when
numpy is importable, the images as numpy uint8 arrays (protocol 2 _reconstruct and protocol 5
_frombuffer). 8 PNGs of 6x4 (odd images 5x4, image 3 24x16) with pixel (x, y) of image i =
((31 i + 40 x) % 256, (17 i + 60 y) % 256, (7 i + 9 x y) % 256).

Regenerate (stdlib only; the numpy variants need numpy):
    /usr/bin/python3 tools/reference/make_bin.py test/fixtures
"""
import os
import pickle
import struct
import sys
import zlib

ISSAME = [True, False, True, False]


def pixel(i, x, y):
    return ((31 * i + 40 * x) % 256, (17 * i + 60 * y) % 256, (7 * i + 9 * x * y) % 256)


def size(i):
    # image 3 is large enough (> 255 bytes) for BINSTRING / BINBYTES rather than the short forms
    return (24, 16) if i == 3 else ((6 if i % 2 == 0 else 5), 4)


def png(i):
    w, h = size(i)
    raw = b''.join(b'\x00' + bytes(c for x in range(w) for c in pixel(i, x, y)) for y in range(h))

    def chunk(tag, data):
        return struct.pack('>I', len(data)) + tag + data + struct.pack('>I', zlib.crc32(tag + data))

    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))


def py2_protocol2(bins, issame):
    """What Python 2's cPickle.dump((bins, issame), f, 2) writes for a list of str and bools."""
    memo = [0]

    def put():
        out = b'q' + bytes([memo[0]])
        memo[0] += 1
        return out

    out = b'\x80\x02' + b']' + put() + b'('
    for b in bins:
        out += (b'U' + bytes([len(b)]) if len(b) < 256 else b'T' + struct.pack('<I', len(b))) + b + put()
    out += b'e' + b']' + put() + b'('
    out += b''.join(b'\x88' if s else b'\x89' for s in issame)
    out += b'e' + b'\x86' + put() + b'.'
    assert pickle.loads(out, encoding='bytes') == (bins, issame)
    return out


def main(outdir):
    bins = [png(i) for i in range(2 * len(ISSAME))]
    files = {
        'tiny.bin': py2_protocol2(bins, ISSAME),
        'tiny_py3.bin': pickle.dumps((bins, ISSAME), protocol=pickle.HIGHEST_PROTOCOL),
        'tiny_codecs.bin': pickle.dumps((bins, ISSAME), protocol=2),
    }
    try:
        import numpy as np

        arrays = [np.frombuffer(b, dtype=np.uint8).copy() for b in bins]
        files['tiny_numpy2.bin'] = pickle.dumps((arrays, ISSAME), protocol=2)
        files['tiny_numpy5.bin'] = pickle.dumps((arrays, np.array(ISSAME)), protocol=5)
    except ImportError:
        print('numpy not importable: numpy variants not written', file=sys.stderr)
    for name, data in files.items():
        with open(os.path.join(outdir, name), 'wb') as f:
            f.write(data)
        print(name, len(data), 'bytes', file=sys.stderr)


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'test/fixtures')

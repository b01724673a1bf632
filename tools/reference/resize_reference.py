#!/usr/bin/env python3
"""Reference resizes for src/face/detectors/resize_blob.ts (the detectors' fused letterbox + blob),
written independently of the TS code: cv2.resize(..., interpolation=cv2.INTER_LINEAR), the call
InsightFace's SCRFD.detect and OpenCV's FaceDetectorYN samples make before building the blob.

Small synthetic RGB images (a smooth gradient with uniform noise, and a colour checkerboard with
one-pixel lines, whose sharp edges show any half-pixel shift) at odd sizes, resized up and down,
each axis on its own (different x and y scales, 1-pixel sources and outputs, an exact 2x reduction,
which cv2 routes through INTER_AREA, same values), both on the uint8 image (cv2's 11-bit fixed point,
what the pipelines feed) and on the same image as float32 (cv2's float path, no rounding).

uint8 bytes are delta-coded (each minus the byte 3 before, mod 256), zlib-deflated and base64; float32
results are little-endian bytes, deflated, base64. Regenerate with Debian's python3-opencv:
    /usr/bin/python3 tools/reference/resize_reference.py > test/fixtures/resize.json
"""
import base64
import json
import sys
import zlib

import cv2
import numpy as np

RNG = np.random.default_rng(20240607)


def pack_u8(img):
    flat = np.ascontiguousarray(img, np.uint8).reshape(-1)
    delta = flat.copy()
    delta[3:] = flat[3:] - flat[:-3]
    return base64.b64encode(zlib.compress(delta.tobytes(), 9)).decode()


def pack_f32(img):
    flat = np.ascontiguousarray(img, '<f4').reshape(-1)
    return base64.b64encode(zlib.compress(flat.tobytes(), 9)).decode()


def gradient(w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 127 + 100 * np.sin(x * 0.7 + y * 0.3)
    img = np.stack([r, g, b], -1) + RNG.uniform(-6, 6, (h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def checker(w, h):
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    cell = ((x // 3 + y // 2) % 2).astype(bool)
    img[cell] = (250, 30, 90)
    img[~cell] = (10, 200, 160)
    img[:, x[0] % 7 == 5] = (255, 255, 255)  # one-pixel columns
    img[y[:, 0] % 5 == 2, :] = (0, 0, 0)  # one-pixel rows
    return img


# (source w, h, output w, h): down, up, mixed, odd, exact 2x, 1-pixel sources and outputs.
SIZES = [
    (37, 23, 20, 13),
    (53, 41, 22, 17),
    (40, 30, 20, 15),
    (7, 5, 16, 12),
    (9, 13, 31, 29),
    (13, 31, 29, 11),
    (20, 20, 20, 20),
    (31, 23, 29, 25),
    (1, 9, 4, 5),
    (11, 1, 6, 3),
    (17, 19, 1, 1),
    (5, 3, 23, 2),
]


def main():
    cases = []
    for sw, sh, dw, dh in SIZES:
        for kind, make in (('gradient', gradient), ('checker', checker)):
            src = make(sw, sh)
            u8 = cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR)
            f32 = cv2.resize(src.astype(np.float32), (dw, dh), interpolation=cv2.INTER_LINEAR)
            cases.append({
                'name': f'{kind} {sw}x{sh} -> {dw}x{dh}',
                'src': {'width': sw, 'height': sh, 'data': pack_u8(src)},
                'width': dw,
                'height': dh,
                'uint8': pack_u8(u8.reshape(dh, dw, 3)),
                'float32': pack_f32(f32.reshape(dh, dw, 3)),
            })
    json.dump({'opencv': cv2.__version__, 'cases': cases}, sys.stdout, indent=1)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Reference matrices and warps for src/face/umeyama.ts, src/face/template.ts, src/image/warp.ts and
src/face/align.ts, written independently of the TS code.

- Matrices: skimage's SimilarityTransform.estimate (Umeyama 1991 with the SVD and the reflection fix;
  the TS side uses the 2-D closed form), on deterministic landmark sets: jittered templates under
  random similarities, mirrored-looking faces (left/right swapped in x), tiny and huge faces, random
  point clouds, 2 and 3 points. cv2.estimateAffinePartial2D is not least-squares (RANSAC/LMEDS), so
  it is not used.
- Templates: InsightFace's rule (utils/face_align.py estimate_norm: size % 112 == 0 -> ratio size/112,
  no shift; else size % 128 == 0 -> ratio size/128, x + 8 ratio; the older 112x96 crop is the template
  with x - 8), computed here in float64.
- Warps: cv2.warpAffine(INTER_LINEAR, BORDER_CONSTANT, 0) of small synthetic RGB images (smooth
  gradients, a colour checkerboard with one-pixel lines, uniform noise) under alignment matrices,
  rotations, up/down scaling, half-pixel shifts and maps that leave the frame.
- Centre crops: cv2.resize(INTER_LINEAR) of the largest centred square.

Pixel bytes are delta-coded (each minus the byte 3 before, mod 256), zlib-deflated and base64-encoded to keep the JSON small. Regenerate with Debian's
python3-opencv and python3-skimage:
    /usr/bin/python3 tools/reference/align_reference.py > test/fixtures/align.json
"""
import base64
import json
import sys
import zlib

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

RNG = np.random.default_rng(20190123)

ARCFACE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def template(width, height):
    if (width, height) == (96, 112):
        return ARCFACE - np.array([8.0, 0.0])
    assert width == height
    size = width
    if size % 112 == 0:
        ratio, diff_x = size / 112.0, 0.0
    elif size % 128 == 0:
        ratio = size / 128.0
        diff_x = 8.0 * ratio
    else:
        raise ValueError(size)
    return ARCFACE * ratio + np.array([diff_x, 0.0])


def similarity(src, dst):
    t = SimilarityTransform()
    assert t.estimate(np.asarray(src, np.float64), np.asarray(dst, np.float64))
    return t.params[:2, :]


def flat(m):
    return [float(v) for v in np.asarray(m).reshape(-1)]


def pack(img):
    """Bytes minus the byte 3 before (PNG's Sub filter, mod 256), deflated, base64."""
    flat_bytes = np.ascontiguousarray(img, np.uint8).reshape(-1)
    delta = flat_bytes.copy()
    delta[3:] = flat_bytes[3:] - flat_bytes[:-3]
    return base64.b64encode(zlib.compress(delta.tobytes(), 9)).decode()


def random_similarity(scale_range, max_shift):
    angle = RNG.uniform(-np.pi, np.pi)
    scale = np.exp(RNG.uniform(np.log(scale_range[0]), np.log(scale_range[1])))
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, RNG.uniform(0, max_shift)], [s, c, RNG.uniform(0, max_shift)]])


def apply(m, pts):
    pts = np.asarray(pts, np.float64)
    return pts @ m[:, :2].T + m[:, 2]


# ---- matrices --------------------------------------------------------------------------------

def matrix_cases():
    cases = []

    def add(name, src, dst):
        cases.append({'name': name, 'src': np.asarray(src).tolist(), 'dst': np.asarray(dst).tolist(),
                      'matrix': flat(similarity(src, dst))})

    for i in range(6):
        m = random_similarity((0.5, 4.0), 800)
        add(f'face {i}', apply(m, ARCFACE + RNG.normal(0, 2.5, (5, 2))), ARCFACE)
    for i in range(3):
        # Mirrored-looking: the "left" eye and mouth corner have the larger x.
        m = random_similarity((0.5, 3.0), 500)
        mirrored = (ARCFACE + RNG.normal(0, 2, (5, 2))) * np.array([-1.0, 1.0])
        add(f'mirrored {i}', apply(m, mirrored), ARCFACE)
    for i in range(2):
        m = random_similarity((0.03, 0.08), 60)
        add(f'tiny {i}', apply(m, ARCFACE + RNG.normal(0, 1, (5, 2))), ARCFACE)
    for i in range(2):
        m = random_similarity((20, 60), 40000)
        add(f'huge {i}', apply(m, ARCFACE + RNG.normal(0, 1, (5, 2))), ARCFACE)
    for i in range(3):
        n = [5, 7, 12][i]
        add(f'random cloud {n}', RNG.uniform(-300, 900, (n, 2)), RNG.uniform(-50, 150, (n, 2)))
    add('2 points', [[10.5, 20.25], [30.0, -4.0]], [[38.2946, 51.6963], [73.5318, 51.5014]])
    add('3 points', [[0, 0], [10, 1], [3, 12]], [[5, 5], [-2, 17], [40, 30]])
    for size in [(96, 112), (128, 128), (224, 224), (256, 256)]:
        m = random_similarity((0.8, 3.0), 600)
        src = apply(m, ARCFACE + RNG.normal(0, 2, (5, 2)))
        add(f'template {size[0]}x{size[1]}', src, template(*size))
    return cases


def template_cases():
    sizes = [(112, 112), (96, 112), (128, 128), (224, 224), (256, 256), (336, 336), (384, 384), (896, 896)]
    return [{'width': w, 'height': h, 'points': template(w, h).tolist()} for w, h in sizes]


# ---- images and warps ------------------------------------------------------------------------

W, H = 97, 83


def gradient_image():
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    r = 255 * x / (W - 1)
    g = 255 * y / (H - 1)
    b = 127.5 + 127.5 * np.sin(x / 9.0 + y / 13.0)
    return np.clip(np.rint(np.stack([r, g, b], -1)), 0, 255).astype(np.uint8)


def checker_image():
    y, x = np.mgrid[0:H, 0:W]
    on = ((x // 5) + (y // 5)) % 2 == 1
    img = np.zeros((H, W, 3), np.uint8)
    img[on] = (250, 30, 200)
    img[~on] = (5, 220, 40)
    img[:, 48] = (255, 255, 255)  # one-pixel lines: the sharpest edges there are
    img[41, :] = (0, 0, 0)
    img[0, :] = (255, 0, 0)  # a bright frame, so the partially-outside taps at the border show
    img[-1, :] = (0, 255, 0)
    img[:, 0] = (0, 0, 255)
    img[:, -1] = (255, 255, 0)
    return img


def noise_image():
    return RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)


def warp(img, m, width, height):
    return cv2.warpAffine(img, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def warp_matrices():
    """(name, matrix source->destination, width, height)."""
    out = []
    # Faces placed on the 97x83 canvas, aligned to the templates: what alignFace does.
    for i, (scale, size) in enumerate([(0.6, (112, 112)), (0.35, (112, 112)), (0.5, (96, 112)), (1.3, (128, 128))]):
        angle = RNG.uniform(-0.6, 0.6)
        c, s = scale * np.cos(angle), scale * np.sin(angle)
        lm = (ARCFACE - 56) @ np.array([[c, -s], [s, c]]).T + np.array([W / 2, H / 2]) + RNG.normal(0, 1, (5, 2))
        out.append((f'align {i} {size[0]}x{size[1]}', similarity(lm, template(*size)), size[0], size[1]))
    out.append(('identity', np.array([[1.0, 0, 0], [0, 1.0, 0]]), 97, 83))
    out.append(('half-pixel shift', np.array([[1.0, 0, 0.5], [0, 1.0, -0.5]]), 64, 48))
    out.append(('rotate 90 about centre', np.array([[0.0, -1, W - 1 + 5], [1.0, 0, -3]]), 83, 97))
    out.append(('upscale 3.7 rotated', np.array([[3.2, -1.8, -40], [1.8, 3.2, -120]]), 112, 112))
    out.append(('downscale 0.41', np.array([[0.41, 0.02, 3.3], [-0.02, 0.41, 1.7]]), 48, 40))
    out.append(('mostly outside', np.array([[0.9, 0.3, 60], [-0.3, 0.9, 50]]), 112, 112))
    out.append(('mirror', np.array([[-1.0, 0, 96.25], [0, 1.0, 0.125]]), 97, 83))
    # Inverse scale 1 + 2^-11 exactly: M'0 x 1024 ends in .5 for odd x (and likewise for y), where
    # cvRound's half-to-even differs from rounding half up; the inverse shift of 1/1024 px makes
    # that difference cross a 1/32 px step for 166 of the 8051 pixels.
    a = 1 / (1 + 2.0 ** -11)
    assert 1 / a == 1 + 2.0 ** -11
    out.append(('rounding ties', np.array([[a, 0, -a / 1024], [0, a, -a / 1024]]), 97, 83))
    return out


def warp_cases(images):
    cases = []
    for name, m, w, h in warp_matrices():
        for img_name in images:
            if img_name == 'noise' and w * h > 64 * 64:
                continue  # noise does not compress: keep its outputs small
            out = warp(images[img_name], m, w, h)
            cases.append({'name': f'{name} ({img_name})', 'image': img_name, 'matrix': flat(m), 'width': w,
                          'height': h, 'expected': pack(out)})
    return cases


def crop_cases(images):
    cases = []
    for img_name in ['gradient', 'checker']:
        img = images[img_name]
        side = min(W, H)
        x0, y0 = (W - side) // 2, (H - side) // 2
        for size in [112, 40]:
            out = cv2.resize(img[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_LINEAR)
            cases.append({'image': img_name, 'size': size, 'expected': pack(out)})
    return cases


def main():
    images = {'gradient': gradient_image(), 'checker': checker_image(), 'noise': noise_image()}
    fixture = {
        'source': 'tools/reference/align_reference.py (skimage %s, OpenCV %s)' % (
            __import__('skimage').__version__, cv2.__version__),
        'similarity': matrix_cases(),
        'templates': template_cases(),
        'images': {k: {'width': W, 'height': H, 'data': pack(v)} for k, v in images.items()},
        'warps': warp_cases(images),
        'centerCrops': crop_cases(images),
    }
    json.dump(fixture, sys.stdout, indent=1)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()

"""PyTorch CPU reference timings for bench/depthwise.ts (single thread, medians in ms).

Reads a JSON list of shapes from argv[1]; prints one JSON object per shape with forward,
backprop-input and backprop-filter medians, for NCHW (PyTorch's default) and channels_last.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)


def median_ms(fn, reps):
    fn()  # warm-up (allocator, oneDNN primitive cache)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def bench(shape, reps, channels_last):
    n, size, c, k, stride, pad = (shape[key] for key in ("n", "size", "c", "k", "stride", "pad"))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(n, c, size, size).contiguous(memory_format=fmt)
    w = torch.randn(c, 1, k, k)
    y = F.conv2d(x, w, None, stride, pad, 1, c)
    dy = torch.randn_like(y).contiguous(memory_format=fmt)

    def back(mask):
        return torch.ops.aten.convolution_backward(
            dy, x, w, None, [stride, stride], [pad, pad], [1, 1], False, [0, 0], c, mask
        )

    with torch.no_grad():
        return {
            "fwd": median_ms(lambda: F.conv2d(x, w, None, stride, pad, 1, c), reps),
            "input": median_ms(lambda: back([True, False, False]), reps),
            "filter": median_ms(lambda: back([False, True, False]), reps),
        }


def main():
    shapes = json.loads(sys.argv[1])
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    for s in shapes:
        out = {"name": s["name"], "nchw": bench(s, reps, False), "nhwc": bench(s, reps, True)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()

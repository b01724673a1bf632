#!/usr/bin/env python3
"""Tiny ONNX "recognisers" for the embedder tests (test/models.embedder.test.ts), a few hundred bytes
each. Their outputs are simple functions of the input tensor, so a test can check the embedder's
pre-processing (channel order, mean/std, layout), flip-sum and L2 norm numerically:

  tiny_nchw.onnx    input [N,3,4,4] -> Flatten -> [N,48]                  (the tensor itself, NCHW order)
  tiny_nhwc.onnx    input [N,4,4,3] -> Flatten -> [N,48]                  (the tensor itself, NHWC order)
  tiny_fixed1.onnx  input [1,3,4,4] -> Flatten -> MatMul W[48,8] -> [1,8]  (batch axis fixed at 1)
                    W[i][j] = ((7 i + 3 j) mod 11 - 5) / 4, exact in float32
  tiny_sqrt.onnx    input [N,3,4,4] -> Flatten -> Sqrt -> [N,48]          (NaN for negative inputs)
  tiny_dyn.onnx     as tiny_nchw through Compress (all-true mask), so the output size is only known
                    at run time (onnxruntime infers tiny_nchw's 48 from the graph)
  tiny_pack.zip     a model pack written by Python's zipfile, for the zip reader of `models pull`:
                    pack/tiny_nchw.onnx (deflated), stored/tiny_nhwc.onnx (stored), pack/README (deflated)

Regenerate with Debian's python3-onnx:
    /usr/bin/python3 tools/reference/make_tiny_onnx.py test/fixtures
"""
import os
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def save(model, out_dir, name):
    model.ir_version = 7  # readable by every onnxruntime from 1.8 on
    onnx.checker.check_model(model)
    path = os.path.join(out_dir, name)
    onnx.save(model, path)
    print(path, os.path.getsize(path), "bytes")


def flatten_model(in_shape, out_shape, extra_nodes=(), initializers=(), out_name="embedding"):
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)
    y = helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)
    first_out = "flat" if extra_nodes else out_name
    nodes = [helper.make_node("Flatten", ["input"], [first_out], axis=1), *extra_nodes]
    graph = helper.make_graph(nodes, "tiny", [x], [y], initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="arcface-tests")


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    save(flatten_model(["N", 3, 4, 4], ["N", 48]), out_dir, "tiny_nchw.onnx")
    save(flatten_model(["N", 4, 4, 3], ["N", 48]), out_dir, "tiny_nhwc.onnx")
    w = np.array([[((7 * i + 3 * j) % 11 - 5) / 4 for j in range(8)] for i in range(48)], dtype=np.float32)
    save(
        flatten_model(
            [1, 3, 4, 4],
            [1, 8],
            extra_nodes=[helper.make_node("MatMul", ["flat", "W"], ["embedding"])],
            initializers=[numpy_helper.from_array(w, "W")],
        ),
        out_dir,
        "tiny_fixed1.onnx",
    )
    save(
        flatten_model(["N", 3, 4, 4], ["N", 48], extra_nodes=[helper.make_node("Sqrt", ["flat"], ["embedding"])]),
        out_dir,
        "tiny_sqrt.onnx",
    )
    mask = numpy_helper.from_array(np.ones(48, dtype=bool), "mask")
    save(
        flatten_model(
            ["N", 3, 4, 4],
            ["N", "D"],
            extra_nodes=[helper.make_node("Compress", ["flat", "mask"], ["embedding"], axis=1)],
            initializers=[mask],
        ),
        out_dir,
        "tiny_dyn.onnx",
    )
    pack = os.path.join(out_dir, "tiny_pack.zip")
    with zipfile.ZipFile(pack, "w") as z:
        for arc, src, method in [
            ("pack/README", None, zipfile.ZIP_DEFLATED),
            ("pack/tiny_nchw.onnx", "tiny_nchw.onnx", zipfile.ZIP_DEFLATED),
            ("stored/tiny_nhwc.onnx", "tiny_nhwc.onnx", zipfile.ZIP_STORED),
        ]:
            info = zipfile.ZipInfo(arc, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = method
            data = b"tiny test models\n" * 20 if src is None else open(os.path.join(out_dir, src), "rb").read()
            z.writestr(info, data)
    print(pack, os.path.getsize(pack), "bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures")

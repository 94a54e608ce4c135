#!/usr/bin/env python3
"""Writes the layer fixtures of tests/nn/ from PyTorch's own modules (nn.Linear, F.layer_norm, softmax and
mmcv's FFN structure, restated): the independent reference for voxformer's nn/ layers.

Usage: /usr/bin/python3 tests/reference/generate_nn_fixtures.py [OUT_DIR]   (default tests/fixtures/nn)
Every array is float32; shapes are chosen so that no dimension is a multiple of a SIMD width by accident.
"""
import pathlib
import sys

import numpy as np
import torch
import torch.nn.functional as F

OUT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "nn"


def save(name, tensor):
    """float32, except float64 references (computed in float64 from the float32 inputs) stay float64."""
    array = tensor.detach().numpy()
    np.save(OUT / f"{name}.npy", array if array.dtype == np.float64 else array.astype(np.float32))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    randn = lambda *shape: torch.randn(*shape, generator=g)

    # Linear 24 → 20 on 37 rows; the same with ReLU; and with a residual: r + (x·Wᵀ + b).
    x, w, b, r = randn(37, 24), randn(20, 24) / 5, randn(20), randn(37, 20)
    for name, t in [("linear_x", x), ("linear_weight", w), ("linear_bias", b), ("linear_residual", r),
                    ("linear_y", F.linear(x, w, b)), ("linear_relu_y", F.relu(F.linear(x, w, b))),
                    ("linear_residual_y", r + F.linear(x, w, b))]:
        save(name, t)

    # LayerNorm over 32 channels, eps 1e-5, biased variance; rows with a large common offset (a one-pass
    # variance would cancel there), one constant row (variance 0: y = β) and one whose variance is below eps. The reference is PyTorch's
    # layer_norm in float64 on the float32 inputs: PyTorch's own float32 result is 3.6e-6 off on the offset row.
    x = randn(41, 32)
    x[3] += 1000.0
    x[7] = 2.5
    x[11] *= 1e-3  # variance 1e-6 < eps: pins eps = 1e-5
    gamma, beta = 1 + randn(32) / 10, randn(32) / 10
    for name, t in [("layer_norm_x", x), ("layer_norm_weight", gamma), ("layer_norm_bias", beta),
                    ("layer_norm_y", F.layer_norm(x.double(), (32,), gamma.double(), beta.double(), eps=1e-5))]:
        save(name, t)

    # Softmax over groups of 8 (4 heads × 8 points), values up to ±80 (exp overflows without the max shift),
    # and 0.5 · softmax (the fused two-slot self-attention).
    x = randn(13, 32) * 30
    x[0, :8] = 80.0
    grouped = x.view(13, 4, 8)
    save("softmax_x", x)
    save("softmax_y", grouped.softmax(-1).view(13, 32))
    save("softmax_half_y", (0.5 * grouped.softmax(-1)).view(13, 32))

    # mmcv FFN: x + fc2(ReLU(fc1(x))), 32 → 48 → 32.
    x, w1, b1, w2, b2 = randn(29, 32), randn(48, 32) / 6, randn(48) / 2, randn(32, 48) / 7, randn(32) / 2
    y = x + F.linear(F.relu(F.linear(x, w1, b1)), w2, b2)
    for name, t in [("ffn_x", x), ("ffn_fc1_weight", w1), ("ffn_fc1_bias", b1), ("ffn_fc2_weight", w2),
                    ("ffn_fc2_bias", b2), ("ffn_y", y)]:
        save(name, t)


if __name__ == "__main__":
    main()

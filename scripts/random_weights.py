#!/usr/bin/env python3
"""Random VoxFormer stage-2 head weights in the official layout, written as safetensors (F32).

  /usr/bin/python3 scripts/random_weights.py --variant T|S|T-3D|S-3D [--dims C] [--heads H]
      [--points-cross P] [--points-self P] [--ffn F] [--layers-cross N] [--layers-self N] [--cameras K]
      [--classes N] [--volume X Y Z] [--view H W] [--levels L] --seed S --out W.safetensors [--no-prefix]

Without size options the official size of the variant (spec §1.1) is used. Keys carry the `pts_bbox_head.`
prefix unless --no-prefix. The weights come from tests/reference/voxformer_reference.random_state_dict (the
same as tests/reference/run_reference.py with the same --seed). --config-out writes the matching reference
config.json. Derived for non-official sizes: --volume alone gives a square view when X·Y·Z is a square
(else X × Y·Z); --levels L gives feature_shapes 24×77 halved per extra level (level_embed_rows >= L).
"""
import argparse
import json
import math
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "reference"))

import safetensors_io as st  # noqa: E402
import voxformer_reference as vr  # noqa: E402


def build_config(args):
    cfg = vr.official_config(args.variant)
    for opt, key in (("dims", "embed_dims"), ("heads", "heads"), ("points_cross", "points_cross"),
                     ("points_self", "points_self"), ("ffn", "ffn_hidden"), ("layers_cross", "layers_cross"),
                     ("layers_self", "layers_self"), ("cameras", "cameras"), ("classes", "classes")):
        value = getattr(args, opt)
        if value is not None:
            cfg[key] = value
    if args.volume:
        cfg["volume"] = list(args.volume)
    if args.view:
        cfg["view_shape"] = list(args.view)
    elif args.volume:  # a view is needed with Hv·Wv = X·Y·Z: square when possible (official 512×512), else X × Y·Z
        X, Y, Z = args.volume
        side = math.isqrt(X * Y * Z)
        cfg["view_shape"] = [side, side] if side * side == X * Y * Z else [X, Y * Z]
    if args.levels:
        h, w = cfg["feature_shapes"][0]
        cfg["levels"] = args.levels
        cfg["feature_shapes"] = [[max(1, h >> l), max(1, w >> l)] for l in range(args.levels)]
        cfg["level_embed_rows"] = max(cfg["level_embed_rows"], args.levels)
    return vr.validate_config(cfg)


def main():
    ap = argparse.ArgumentParser(description="random VoxFormer head weights (official layout) → safetensors")
    ap.add_argument("--variant", required=True, choices=["T", "S", "T-3D", "S-3D"])
    ap.add_argument("--dims", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--points-cross", type=int)
    ap.add_argument("--points-self", type=int)
    ap.add_argument("--ffn", type=int)
    ap.add_argument("--layers-cross", type=int)
    ap.add_argument("--layers-self", type=int)
    ap.add_argument("--cameras", type=int)
    ap.add_argument("--classes", type=int)
    ap.add_argument("--volume", type=int, nargs=3, metavar=("X", "Y", "Z"))
    ap.add_argument("--view", type=int, nargs=2, metavar=("H", "W"))
    ap.add_argument("--levels", type=int)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", type=pathlib.Path, required=True)
    ap.add_argument("--config-out", type=pathlib.Path, help="also write the reference config.json")
    pre = ap.add_mutually_exclusive_group()
    pre.add_argument("--prefix", dest="prefix", action="store_true", default=True)
    pre.add_argument("--no-prefix", dest="prefix", action="store_false")
    args = ap.parse_args()

    cfg = build_config(args)
    sd = vr.random_state_dict(cfg, args.seed, prefix=vr.PREFIX if args.prefix else "")
    st.write_safetensors(args.out, {k: v.float().contiguous() for k, v in sd.items()},
                         {"format": "pt", "source": "scripts/random_weights.py", "variant": cfg["variant"],
                          "seed": str(args.seed), "config": json.dumps(cfg, separators=(",", ":"))})
    if args.config_out:
        with open(args.config_out, "w") as f:
            json.dump(cfg, f, indent=1)
            f.write("\n")
    count = len(sd)
    params = sum(v.numel() for v in sd.values())
    print(f"{args.out}: {count} tensors, {params} parameters, {params * 4} bytes of F32 data "
          f"({args.out.stat().st_size} bytes on disk)")


if __name__ == "__main__":
    main()

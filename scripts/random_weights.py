#!/usr/bin/env python3
"""Random VoxFormer stage-2 head weights in the official layout, written as safetensors (F32); with --image-backbone
also the image path's (ResNet-50 to layer3 + FPN), so that one file is a whole random checkpoint.

  /usr/bin/python3 scripts/random_weights.py --variant T|S|T-3D|S-3D [--dims C] [--heads H]
      [--points-cross P] [--points-self P] [--ffn F] [--layers-cross N] [--layers-self N] [--cameras K]
      [--classes N] [--volume X Y Z] [--view H W] [--levels L] --seed S --out W.safetensors [--no-prefix]
      [--image-backbone [--base-width B] [--neck C] [--blocks N1 N2 N3] [--crop H W] [--calibration-images N]
       [--threads T]]

Without size options the official size of the variant (spec §1.1) is used. Keys carry the `pts_bbox_head.`
prefix unless --no-prefix. The weights come from tests/reference/voxformer_reference.random_state_dict (the
same as tests/reference/run_reference.py with the same --seed). --config-out writes the matching reference
config.json. Derived for non-official sizes: --volume alone gives a square view when X·Y·Z is a square
(else X × Y·Z); --levels L gives feature_shapes 24×77 halved per extra level (level_embed_rows >= L).

--image-backbone: the file also holds `img_backbone.*` and `img_neck.*` (official names, spec §1.5), written first as
in a checkpoint: F32 tensors and every BatchNorm's `num_batches_tracked` as an I64 scalar (shape []), no layer4.
They come from tests/reference/image_backbone_reference.py: `init_random_(seed)` weights, then BatchNorm running
statistics calibrated (`calibrate_batchnorm_`) on --calibration-images (default 3) synthetic road-scene images of the
crop's size in one train-mode batch, so that activations stay bounded as in a trained network (official widths:
layer3 std ≈ 2.5, features std ≈ 3, |max| ≈ 30 on an unseen image, with 3 or 8 calibration images alike). Widths are the
official ResNet-50 ones by default (base width 64, blocks 3 4 6, neck 128); --base-width, --blocks and --neck give
reduced ones. The neck's width must be the head's embed_dims (--neck defaults to it). --crop H W (default the
head's image_size, 370 1220) is the image crop the model runs on: the head's image_size becomes the crop and its one
feature level the backbone's output for it (370×1220 → 24×77); the whole model samples one level, so --levels > 1 is
refused. The head's weights are the same as without the flag for the same --seed and sizes. Prefix required (no
--no-prefix). At the official widths the image path adds 8.85 M parameters, 262 tensors (43 of them counters):
35.4 MB (33.8 MiB) more in the file; weights + calibration on 3 images took 6 s on 2 threads (8 s for the whole
VoxFormer-T file, 173 MB; 2.7 s without the flag), about 1 GB of memory. --config-out writes the head's reference
config (its image_size and feature_shapes then those of the crop); the image path's settings are in the file's
metadata under "image".
"""
import argparse
import json
import math
import os
import pathlib
import sys
import time

# Idle OpenMP threads sleep instead of spinning (set before torch loads libgomp), see tests/reference.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "reference"))

import torch  # noqa: E402

import image_backbone_reference as ib  # noqa: E402
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


def image_path_config(args, cfg):
    """The image path's widths and crop for --image-backbone; sets the head's image_size and feature level to the
    crop's (cfg is changed in place and revalidated). Errors are argparse-style messages (SystemExit)."""
    if not args.prefix:
        sys.exit("random_weights.py: --image-backbone needs the official prefixes (drop --no-prefix)")
    if cfg["levels"] != 1:
        sys.exit(f"random_weights.py: --image-backbone: the image path gives one feature level, the head has "
                 f"{cfg['levels']} (drop --levels)")
    neck = cfg["embed_dims"] if args.neck is None else args.neck
    if neck != cfg["embed_dims"]:
        sys.exit(f"random_weights.py: --neck {neck} must be the head's embed_dims {cfg['embed_dims']} (the image "
                 f"features are the head's values)")
    if args.base_width < 1 or min(args.blocks) < 1 or args.calibration_images < 1:
        sys.exit("random_weights.py: --base-width, --blocks and --calibration-images must be positive")
    crop = list(args.crop) if args.crop else list(cfg["image_size"])
    if min(crop) < 1:
        sys.exit("random_weights.py: --crop must be positive")
    cfg["image_size"] = crop
    cfg["feature_shapes"] = [list(ib.stage_shapes(crop, args.base_width, neck)["features"][1:])]
    vr.validate_config(cfg)
    return {"crop": crop, "mean": list(ib.IMAGE_MEAN), "std": list(ib.IMAGE_STD), "base_width": args.base_width,
            "blocks": list(args.blocks), "neck_channels": neck}


def image_path_state_dict(image, seed, calibration_images):
    """img_backbone.* + img_neck.* (checkpoint order, F32, num_batches_tracked I64 []) of `init_random_(seed)` with
    BatchNorm statistics calibrated on `calibration_images` synthetic crop-sized images (seeds 1000·seed + 7, …) in
    one batch."""
    h, w = image["crop"]
    images = ib.synthetic_images(calibration_images, h, w, seed=1000 * seed + 7)
    calibration = ib.preprocess(images, image["crop"], image["mean"], image["std"])
    model = ib.ImageBackbone(image["base_width"], image["blocks"], image["neck_channels"])
    ib.init_random_(model, seed, calibration)
    return ib.state_dict_for_file(model)


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
    img = ap.add_argument_group("image path (with --image-backbone)")
    img.add_argument("--image-backbone", action="store_true",
                     help="also write img_backbone.* and img_neck.* (random, BatchNorm statistics calibrated)")
    img.add_argument("--base-width", type=int, default=ib.OFFICIAL_BASE_WIDTH, help="stem channels (ResNet-50: 64)")
    img.add_argument("--blocks", type=int, nargs=3, default=list(ib.OFFICIAL_BLOCKS), metavar=("L1", "L2", "L3"),
                     help="bottlenecks in layer1..3 (ResNet-50: 3 4 6)")
    img.add_argument("--neck", type=int, help="FPN output channels (default: the head's embed_dims, 128)")
    img.add_argument("--crop", type=int, nargs=2, metavar=("H", "W"),
                     help="image crop the model runs on (default: the head's image_size, 370 1220)")
    img.add_argument("--calibration-images", type=int, default=3,
                     help="synthetic images the BatchNorm statistics are calibrated on (default 3)")
    img.add_argument("--threads", type=int, help="torch threads for the calibration (default: torch's)")
    args = ap.parse_args()
    image_only = ("base_width", "blocks", "neck", "crop", "calibration_images", "threads")
    if not args.image_backbone:
        given = [o for o in image_only if getattr(args, o) != ap.get_default(o)]
        if given:
            ap.error(f"--{given[0].replace('_', '-')} needs --image-backbone")

    cfg = build_config(args)
    image = image_path_config(args, cfg) if args.image_backbone else None
    sd = vr.random_state_dict(cfg, args.seed, prefix=vr.PREFIX if args.prefix else "")
    tensors = {k: v.float().contiguous() for k, v in sd.items()}
    metadata = {"format": "pt", "source": "scripts/random_weights.py", "variant": cfg["variant"],
                "seed": str(args.seed), "config": json.dumps(cfg, separators=(",", ":"))}
    seconds = None
    if image is not None:
        if args.threads:
            torch.set_num_threads(args.threads)
        t0 = time.perf_counter()
        image_sd = image_path_state_dict(image, args.seed, args.calibration_images)
        seconds = time.perf_counter() - t0
        tensors = {**image_sd, **tensors}  # checkpoint order: img_backbone, img_neck, pts_bbox_head
        metadata["image"] = json.dumps(dict(image, calibration_images=args.calibration_images),
                                       separators=(",", ":"))
    st.write_safetensors(args.out, tensors, metadata)
    if args.config_out:
        with open(args.config_out, "w") as f:
            json.dump(cfg, f, indent=1)
            f.write("\n")
    count = len(tensors)
    params = sum(v.numel() for v in tensors.values() if v.dtype == torch.float32)
    print(f"{args.out}: {count} tensors, {params} parameters, {params * 4} bytes of F32 data "
          f"({args.out.stat().st_size} bytes on disk)")
    if image is not None:
        img_params = sum(v.numel() for k, v in image_sd.items() if not k.endswith("num_batches_tracked"))
        counters = sum(k.endswith("num_batches_tracked") for k in image_sd)
        print(f"  of which the image path: {len(image_sd)} tensors ({counters} I64 counters, {counters * 8} bytes "
              f"more), {img_params} F32 parameters ({img_params * 4} bytes), base width "
              f"{image['base_width']}, blocks {image['blocks']}, neck {image['neck_channels']}, crop {image['crop']} "
              f"→ features {cfg['feature_shapes'][0]}; weights + BatchNorm calibration on "
              f"{args.calibration_images} images {seconds:.1f} s")


if __name__ == "__main__":
    main()

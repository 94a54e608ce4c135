#!/usr/bin/env python3
"""Writes the image-backbone fixtures (preprocessing, ResNet-50 to layer3, FPN; temporal lidar2img matrices) computed
by the PyTorch reference (image_backbone_reference.py).

Usage:
  /usr/bin/python3 tests/reference/generate_backbone_fixtures.py              # small cases → tests/fixtures/backbone/
  /usr/bin/python3 tests/reference/generate_backbone_fixtures.py --out DIR    # small cases → DIR/<case>/
  /usr/bin/python3 tests/reference/generate_backbone_fixtures.py --official DIR [--images K] [--all-stages]
      [--threads 2]    # only the official-size case (base width 64, 370×1220 crop), its files directly in DIR
  [--poses PATH]       poses.txt of sequence 08 for the temporal fixture (default: the first that exists of
                       examples/data/semantickitti_08_001000/poses.txt and
                       ../shared/data/semantickitti_08_001000/poses.txt; without one the temporal fixture is skipped
                       with a message)

Small cases (committed; width-reduced networks of the ResNet-50 graph, blocks (3, 4, 6), random weights with
calibrated BatchNorm statistics):
  w8_k1               base width 8, neck 16, 1 image 37×61 cropped to 33×57, official mean/std
  w8_k3               the same weights (byte-identical file), 3 images 37×61 → 33×57
  w4_custom_norm      base width 4, neck 8, 1 image 40×52 → 36×50, mean (0.5, 0.4, 0.3), std (0.25, 0.2, 0.3)
  w4_float_input      base width 4, neck 8, 2 float images (3, 35, 49) already normalised (not on the uint8 lattice):
                      no preprocessing, input.npy is the network input
Each case folder holds
  config.json           {"input": "uint8" | "normalized", "images": K, "image_shape": [H, W] (of images.npy, or of
                        input.npy for "normalized"), "crop": [h, w], "mean": [3], "std": [3] (crop/mean/std null for
                        "normalized"), "base_width": b, "blocks": [3, 4, 6], "neck_channels": C, "seed": s,
                        "calibration_images": n, "stages": {stage: [K, C, h', w']}}
  images.npy            uint8 (K, H, W, 3) RGB (not in w4_float_input)
  input.npy             float32 (K, 3, h, w): the normalised network input
  weights.safetensors   official keys (img_backbone.*, img_neck.*): F32 tensors, num_batches_tracked I64 shape [],
                        plus img_backbone.layer4.0.conv1.weight and img_backbone.layer4.0.bn1.* (to be ignored)
  stem.npy pool.npy layer1.npy layer2.npy layer3.npy lateral.npy features.npy   float32 (K, C, h', w') each
  (stem = conv1+bn1+ReLU, pool = after the max-pool, lateral = the FPN's 1×1 conv, features = FPN output)
and tests/fixtures/backbone/temporal/ holds
  config.json           calib and poses paths, poses_sha256, sequence_length, offsets, frames, frame_ids per frame
  lidar2img_1000.npy    float64 (5, 4, 4), frame 1000 of sequence 08, offsets [0, −12, −9, −6, −3]
  lidar2img_5.npy       float64 (5, 4, 4), frame 5: offsets −12, −9, −6 are < 0 → the current frame stands in
The official case writes config.json, images.npy (uint8 (K, 376, 1241, 3)), input.npy, weights.safetensors (37.5 MB,
official widths) and layer3.npy, lateral.npy, features.npy ((K, 128, 24, 77)); --all-stages adds stem, pool, layer1,
layer2 (≈ 70 MB more per image). Deterministic: fixed seeds per case.
"""
import argparse
import json
import os
import pathlib
import sys
import time

# Idle OpenMP threads sleep instead of spinning (set before torch loads libgomp): see test_backbone_reference.py.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import image_backbone_reference as ib  # noqa: E402
import safetensors_io as st  # noqa: E402

DEFAULT_OUT = ROOT / "tests" / "fixtures" / "backbone"
DATA = ROOT / "examples" / "data" / "semantickitti_08_001000"
POSES_CANDIDATES = (DATA / "poses.txt", ROOT.parent / "shared" / "data" / "semantickitti_08_001000" / "poses.txt")
TEMPORAL_FRAMES = (1000, 5)
CALIBRATION_IMAGES = 32  # small cases, one train-mode batch
OFFICIAL_CALIBRATION_IMAGES = 3
OFFICIAL_SEED = 64
OFFICIAL_STAGES = ("layer3", "lateral", "features")

SMALL_CASES = {
    # name: (base width, neck channels, K, image shape, crop, mean, std, weight seed, image seed)
    "w8_k1": (8, 16, 1, (37, 61), (33, 57), ib.IMAGE_MEAN, ib.IMAGE_STD, 11, 100),
    "w8_k3": (8, 16, 3, (37, 61), (33, 57), ib.IMAGE_MEAN, ib.IMAGE_STD, 11, 200),
    "w4_custom_norm": (4, 8, 1, (40, 52), (36, 50), (0.5, 0.4, 0.3), (0.25, 0.2, 0.3), 12, 300),
    "w4_float_input": (4, 8, 2, (35, 49), None, None, None, 13, 400),
}


def calibrated_model(base_width, neck_channels, image_shape, crop, mean, std, seed, count):
    """ImageBackbone with `init_random_(seed)` weights, BatchNorm calibrated on `count` synthetic images of
    `image_shape` (seeds 1000·seed, 1000·seed + 1, …) preprocessed with crop/mean/std (crop None = the whole image,
    mean/std None = the official ones)."""
    images = ib.synthetic_images(count, *image_shape, seed=1000 * seed)
    calibration = ib.preprocess(images, crop or image_shape, mean or ib.IMAGE_MEAN, std or ib.IMAGE_STD)
    return ib.init_random_(ib.ImageBackbone(base_width, ib.OFFICIAL_BLOCKS, neck_channels), seed, calibration)


def write_case(folder, model, images, net_input, config, stages=ib.STAGES, log=print):
    """Runs `model` on `net_input` (float32 (K, 3, h, w)) and writes config.json, images.npy (when `images` is not
    None), input.npy, weights.safetensors and the `stages` outputs. Returns {stage: array}."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    outputs = ib.stage_outputs(model, net_input)
    seconds = time.perf_counter() - t0
    config = dict(config, stages={k: list(outputs[k].shape) for k in stages})
    with open(folder / "config.json", "w") as f:
        json.dump(config, f, indent=1)
        f.write("\n")
    if images is not None:
        np.save(folder / "images.npy", np.ascontiguousarray(images, dtype=np.uint8))
    np.save(folder / "input.npy", np.ascontiguousarray(net_input.numpy(), dtype=np.float32))
    st.write_safetensors(folder / "weights.safetensors", ib.state_dict_for_file(model, layer4_seed=config["seed"] + 1),
                         {"format": "pt", "source": "image_backbone_reference.init_random_",
                          "seed": str(config["seed"])})
    for name in stages:
        np.save(folder / f"{name}.npy", outputs[name])
    size = sum(p.stat().st_size for p in folder.iterdir())
    feats = outputs["features"]
    log(f"{folder}: features {tuple(feats.shape)} mean {feats.mean():.3f} std {feats.std():.3f}, "
        f"forward {seconds:.2f} s, {size / 1e6:.3f} MB")
    return outputs


def small_case(folder, name):
    base, neck, K, shape, crop, mean, std, seed, image_seed = SMALL_CASES[name]
    model = calibrated_model(base, neck, shape, crop, mean, std, seed, CALIBRATION_IMAGES)
    config = {"input": "uint8" if crop else "normalized", "images": K, "image_shape": list(shape),
              "crop": list(crop) if crop else None, "mean": list(mean) if mean else None,
              "std": list(std) if std else None, "base_width": base, "blocks": list(ib.OFFICIAL_BLOCKS),
              "neck_channels": neck, "seed": seed, "calibration_images": CALIBRATION_IMAGES}
    images = ib.synthetic_images(K, *shape, seed=image_seed)
    if crop:
        net_input = ib.preprocess(images, crop, mean, std)
    else:  # already normalised float input, off the uint8 lattice
        noise = np.random.default_rng(image_seed).normal(0.0, 0.05, (K, 3) + tuple(shape)).astype(np.float32)
        net_input = ib.preprocess(images, shape) + torch.from_numpy(noise)
        images = None
    write_case(folder, model, images, net_input, config)


def official_case(folder, count, all_stages):
    """Official widths, 370×1220 crop of `count` synthetic 376×1241 images (seeds 1, 2, …)."""
    t0 = time.perf_counter()
    model = calibrated_model(ib.OFFICIAL_BASE_WIDTH, ib.OFFICIAL_NECK_CHANNELS, ib.KITTI_IMAGE_SIZE, ib.OFFICIAL_CROP,
                             None, None, OFFICIAL_SEED, OFFICIAL_CALIBRATION_IMAGES)
    t1 = time.perf_counter()
    images = ib.synthetic_images(count, *ib.KITTI_IMAGE_SIZE, seed=1)
    net_input = ib.preprocess(images)
    config = {"input": "uint8", "images": count, "image_shape": list(ib.KITTI_IMAGE_SIZE),
              "crop": list(ib.OFFICIAL_CROP), "mean": list(ib.IMAGE_MEAN), "std": list(ib.IMAGE_STD),
              "base_width": ib.OFFICIAL_BASE_WIDTH, "blocks": list(ib.OFFICIAL_BLOCKS),
              "neck_channels": ib.OFFICIAL_NECK_CHANNELS, "seed": OFFICIAL_SEED,
              "calibration_images": OFFICIAL_CALIBRATION_IMAGES}
    write_case(folder, model, images, net_input, config, ib.STAGES if all_stages else OFFICIAL_STAGES)
    print(f"official case ({count} images): weights + BatchNorm calibration {t1 - t0:.1f} s, "
          f"{time.perf_counter() - t0:.1f} s in all on {torch.get_num_threads()} threads")


def temporal_fixture(folder, poses):
    """lidar2img_<frame>.npy float64 (5, 4, 4) for TEMPORAL_FRAMES with the real sequence-08 calib and poses."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    p2, tr = ib.read_calib(DATA / "calib.txt")
    lidar_poses = ib.read_lidar_poses(poses, tr)
    offsets = ib.TEMPORAL_OFFSETS["T"]
    frame_ids = {}
    for frame in TEMPORAL_FRAMES:
        mats, ids = ib.temporal_lidar2img(p2, tr, lidar_poses, frame, offsets)
        np.save(folder / f"lidar2img_{frame}.npy", mats.astype(np.float64))
        frame_ids[str(frame)] = ids.tolist()
    config = {"calib": str(DATA.relative_to(ROOT) / "calib.txt"), "poses": str(poses),
              "poses_in_repository": str((DATA / "poses.txt").relative_to(ROOT)),
              "poses_sha256": ib.file_sha256(poses), "sequence": "08", "sequence_length": len(lidar_poses),
              "offsets": list(offsets), "frames": list(TEMPORAL_FRAMES), "frame_ids": frame_ids}
    with open(folder / "config.json", "w") as f:
        json.dump(config, f, indent=1)
        f.write("\n")
    print(f"{folder}: frames {list(TEMPORAL_FRAMES)} of {len(lidar_poses)}, frame ids {frame_ids}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=pathlib.Path, default=None, help=f"small cases root (default {DEFAULT_OUT})")
    ap.add_argument("--official", type=pathlib.Path, default=None, metavar="DIR",
                    help="write the official-size case (base width 64, 370×1220) into DIR")
    ap.add_argument("--images", type=int, default=1, help="images of the official case (default 1)")
    ap.add_argument("--all-stages", action="store_true", help="official case: also stem, pool, layer1, layer2")
    ap.add_argument("--cases", nargs="*", default=None, help="only these small cases (and 'temporal')")
    ap.add_argument("--poses", type=pathlib.Path, default=None, help="sequence-08 poses.txt for the temporal fixture")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.official is None or args.out is not None:
        root = args.out or DEFAULT_OUT
        for name in SMALL_CASES:
            if args.cases is None or name in args.cases:
                small_case(root / name, name)
        if args.cases is None or "temporal" in args.cases:
            poses = args.poses or next((p for p in POSES_CANDIDATES if p.exists()), None)
            if poses is None:
                print(f"no poses.txt among {[str(p) for p in POSES_CANDIDATES]}: temporal fixture not written")
            else:
                temporal_fixture(root / "temporal", poses)
    if args.official is not None:
        official_case(args.official, args.images, args.all_stages)


if __name__ == "__main__":
    main()

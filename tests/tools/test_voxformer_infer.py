#!/usr/bin/env python3
"""voxformer_infer end to end: on a committed PyTorch-reference fixture it writes labels, logits and every
stage's output equal to the reference (logits and stages within 1e-4, labels where the top-2 logits are
more than 2e-4 apart); a proposal counts its positive values (VoxFormer's `p > 0`: negative ones are not proposed);
every bad argument is one clear line on stderr with a non-zero exit, and leaves no --out behind. The outputs are all or
nothing: a full disk (a 16 KiB tmpfs, root only) or a file that cannot be put in place is an error that leaves --out
as it was, absent or with its previous files, however many stage files and logits were written before. With --images,
the whole model from PNG files against the reference chain of images to labels (check_images).

Usage: /usr/bin/python3 tests/tools/test_voxformer_infer.py PATH/TO/voxformer_infer
"""
import json
import os
import pathlib
import sys
import tempfile

import numpy as np
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "pipeline" / "t3d_small"
sys.path.insert(0, str(ROOT / "tests" / "reference"))
import voxformer_reference as vr  # noqa: E402
from cli_checks import check_full_disk_failure, check_rejected, run, run_on_small_disk, snapshot  # noqa: E402



def check_converted_checkpoint(check, infer, tmp, model, base, reference_out):
    """scripts/convert_checkpoint.py keeps every part of a full .pth in the original's layout — {'state_dict': …,
    'meta': …}, img_backbone.* with layer4 and int64 BatchNorm counters, img_neck.*, pts_bbox_head.* — names and
    dtypes unchanged: the runner reads the converted file to the same bits as the fixture's own."""
    import torch
    import safetensors_io as st

    tensors = st.read_safetensors(model / "weights.safetensors")
    state = dict(tensors)
    state["img_backbone.layer4.0.conv1.weight"] = torch.ones(8, 4, 1, 1)  # computed and discarded by the original
    state["img_backbone.bn1.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    torch.save({"state_dict": state, "meta": {"epoch": 20}}, tmp / "full.pth")
    result = run("/usr/bin/python3", ROOT / "scripts" / "convert_checkpoint.py", tmp / "full.pth", tmp / "full.safetensors")
    check(result.returncode == 0, f"convert_checkpoint: {result.stderr}")
    if result.returncode != 0:
        return
    converted = st.read_safetensors(tmp / "full.safetensors")
    check(set(converted) == set(state), "convert_checkpoint: names differ")
    for prefix in ("img_backbone.", "img_neck.", "pts_bbox_head."):
        check(any(name.startswith(prefix) for name in converted), f"convert_checkpoint: no {prefix}* tensor")
    check(all(converted[n].dtype == state[n].dtype and torch.equal(converted[n], state[n]) for n in state),
          "convert_checkpoint: a tensor changed")
    args = [a if a != model / "weights.safetensors" else tmp / "full.safetensors" for a in base]
    result = run(infer, *args, "--proposal", model / "proposal.npy", "--out", tmp / "converted", "--logits")
    check(result.returncode == 0, f"--images with the converted checkpoint: {result.stderr}")
    if result.returncode == 0:
        for name in ("labels.npy", "logits.npy"):
            check(np.array_equal(np.load(tmp / "converted" / name), np.load(reference_out / name)),
                  f"--images with the converted checkpoint: {name} differs")


def check_images(check, infer, tmp):
    """--images: the whole model from PNG camera images and one checkpoint (a reduced network, whose widths the runner
    reads from the checkpoint), against the PyTorch reference chain of tests/reference/generate_model_fixtures.py —
    labels where the top-2 logits are apart, logits within 1e-4, features.npy with --stages; stage 1 first with
    --occupancy; bad images are one clear error and no --out."""
    model = ROOT / "tests" / "fixtures" / "model" / "t_images"
    config = json.loads((model / "config.json").read_text())
    image = config.pop("image")
    (tmp / "head.json").write_text(json.dumps(config))
    pngs = []
    for k, pixels in enumerate(np.load(model / "images.npy")):
        pngs.append(tmp / f"camera{k}.png")
        Image.fromarray(pixels).save(pngs[-1])
    base = ["--config", tmp / "head.json", "--weights", model / "weights.safetensors", "--images", *pngs,
            "--crop", *image["crop"], "--lidar2img", model / "lidar2img.npy", "--threads", 2]
    result = run(infer, *base, "--proposal", model / "proposal.npy", "--out", tmp / "images", "--logits", "--stages")
    check(result.returncode == 0, f"--images: failed: {result.stderr}")
    if result.returncode == 0:
        out = tmp / "images"
        features, ref = np.load(out / "features.npy"), np.load(model / "features.npy")
        check(features.shape == (1, *ref.shape), f"features.npy: shape {features.shape}")
        check(np.abs(features[0] - ref).max() <= 1e-4 * np.abs(ref).max(), "--images: features differ")
        check(np.abs(np.load(out / "logits.npy") - np.load(model / "logits.npy")).max() <= 1e-4, "--images: logits")
        logits = np.sort(np.load(model / "logits.npy"), axis=0)
        clear = (logits[-1] - logits[-2]) > 2e-4
        check((np.load(out / "labels.npy")[clear] == np.load(model / "labels.npy")[clear]).all(), "--images: labels")
        check("image.layer3" in result.stdout, "--images: the stage table has no image path")
        check_converted_checkpoint(check, infer, tmp, model, base, out)
    # Stage 1 first: an occupancy grid twice the query volume, random weights (only that the path runs).
    grid = (np.random.default_rng(4).random([2 * e for e in config["volume"]]) < 0.2).astype(np.uint8)
    np.save(tmp / "occupancy.npy", grid)
    seeded = [a if a != "--weights" else "--random-weights" for a in base]
    seeded[seeded.index("--random-weights") + 1] = 3
    if config["volume"][1] * 2 % 8 == 0:  # stage 1 needs each extent of its grid to divide by 8
        result = run(infer, *seeded, "--occupancy", tmp / "occupancy.npy", "--out", tmp / "stage1")
        check(result.returncode == 0 and "stage1.seg_h" in result.stdout, f"--occupancy: {result.stderr}")
    grey = tmp / "grey.png"
    Image.fromarray(np.zeros((37, 61), np.uint8)).save(grey)
    bad = [
        (["--images", grey, *pngs[1:]], "8-bit grey PNG; a camera image must be 8-bit RGB"),
        (["--images", *pngs[:4]], "4 image(s)"),
        (["--features", model / "features.npy"], "excludes"),
        (["--crop", 40, 57], "must be RGB images of at least the crop, 40x57"),
        (["--weights", FIXTURE / "weights.safetensors"], "no tensor 'img_backbone.conv1.weight'"),
    ]
    for extra, mentions in bad:
        args = list(base) + ["--proposal", model / "proposal.npy"]
        flag = extra[0]
        if flag in args and flag != "--features":
            at = args.index(flag)
            end = at + 1
            while end < len(args) and not str(args[end]).startswith("--"):
                end += 1
            args[at:end] = extra
        else:
            args += extra
        result = run(infer, *args, "--out", tmp / "bad_images")
        check(result.returncode != 0 and mentions in result.stderr, f"{extra}: unclear error {result.stderr!r}")
        check(not (tmp / "bad_images").exists(), f"{extra}: --out was created")


def main():
    infer = pathlib.Path(sys.argv[1])
    cfg = vr.load_config(FIXTURE / "config.json")
    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        # The fixture's lidar2img in float64, its proposal as float32: other dtypes the runner accepts.
        np.save(tmp / "lidar2img64.npy", np.load(FIXTURE / "lidar2img.npy").astype(np.float64))
        np.save(tmp / "proposal_f32.npy", np.load(FIXTURE / "proposal.npy").astype(np.float32).reshape(-1))
        base = ["--config", FIXTURE / "config.json", "--weights", FIXTURE / "weights.safetensors", "--features",
                FIXTURE / "features0.npy", "--lidar2img", tmp / "lidar2img64.npy", "--proposal", tmp / "proposal_f32.npy"]
        out = tmp / "out"
        result = run(infer, *base, "--out", out, "--threads", 2, "--logits", "--stages")
        check(result.returncode == 0, f"runner failed: {result.stderr}")
        if result.returncode == 0:
            check("proposals" in result.stdout and "head" in result.stdout, "no stage table printed")
            for name in [f"cross_layer{i}" for i in range(cfg["layers_cross"])] + ["volume"] + \
                        [f"self_layer{i}" for i in range(cfg["layers_self"])] + ["logits"]:
                ours, ref = np.load(out / f"{name}.npy"), np.load(FIXTURE / f"{name}.npy")
                check(ours.shape == ref.shape and ours.dtype == np.float32, f"{name}: shape {ours.shape} vs {ref.shape}")
                check(ours.shape == ref.shape and np.abs(ours - ref).max() <= 1e-4, f"{name}: differs from the reference")
            labels, ref_labels = np.load(out / "labels.npy"), np.load(FIXTURE / "labels.npy")
            logits = np.sort(np.load(FIXTURE / "logits.npy"), axis=0)
            clear = (logits[-1] - logits[-2]) > 2e-4
            check(labels.dtype == np.uint8 and labels.shape == ref_labels.shape, "labels: wrong dtype or shape")
            check(labels.shape == ref_labels.shape and (labels[clear] == ref_labels[clear]).all(), "labels differ")

            # The same proposal with -1 where nothing is proposed, and 2.5 where something is (was: -1 proposed too).
            proposal = np.load(FIXTURE / "proposal.npy").reshape(-1)
            np.save(tmp / "proposal_signed.npy", np.where(proposal > 0, 2.5, -1.0).astype(np.float32))
            signed = list(base)
            signed[signed.index("--proposal") + 1] = tmp / "proposal_signed.npy"
            result = run(infer, *signed, "--out", tmp / "signed", "--threads", 2)
            check(result.returncode == 0, f"signed proposal: failed: {result.stderr}")
            if result.returncode == 0:
                check((np.load(tmp / "signed" / "labels.npy") == labels).all(), "negative values were proposed")

        bad = [
            (["--threads", "0"], "--threads"),
            (["--threads", "two"], "--threads"),
            (["--features", tmp / "missing.npy"], "missing.npy"),
            (["--dims", "30"], "embed_dims"),
            (["--layers-cross", "4"], "missing tensor"),
            (["--proposal", FIXTURE / "features0.npy"], "proposal"),
            (["--lidar2img", FIXTURE / "proposal.npy"], "lidar2img"),
            (["--weights", FIXTURE / "config.json"], "safetensors"),
            (["--weights", tmp / "missing.safetensors"], "missing.safetensors"),
        ]
        if 4 * (os.cpu_count() or 1) < 1000:  # beyond cpu_executor::max_threads(), found when the pipeline is made
            bad.append((["--threads", "1000"], "'threads'"))
        for extra, mentions in bad:
            args = list(base)
            for i in range(0, len(extra), 2):
                flag = extra[i]
                if flag in args:
                    args[args.index(flag) + 1] = extra[i + 1]
                else:
                    args += extra[i:i + 2]
            check_rejected(check, run(infer, *args, "--out", tmp / "bad"), extra, mentions)
            check(not (tmp / "bad").exists(), f"{extra}: --out was created")  # was: before the pipeline was made
        check_rejected(check, run(infer, *base, "--crop", 40, 57, "--out", tmp / "bad"), "--crop with --features",
                       "--images")

        # A file that cannot be put in place, found after the stage files and the logits were written (was: those
        # left behind).
        later = tmp / "later"
        (later / "labels.npy").mkdir(parents=True)
        before = snapshot(later)
        result = run(infer, *base, "--out", later, "--logits", "--stages")
        check_rejected(check, result, "labels.npy a folder", str(later / "labels.npy"))
        check(snapshot(later) == before, "a failed run changed --out")

        # A full disk: was exit 0 beside a 0-byte labels.npy (a small write on a full disk), or a truncated file.
        (tmp / "full").mkdir()
        (tmp / "full" / "filler").write_bytes(b"f" * 16384)
        outcome = run_on_small_disk(tmp / "disk_full", tmp / "full", infer, *base, "--out", tmp / "disk_full" / "out")
        check_full_disk_failure(check, "full disk, new --out", outcome, tmp / "full", "labels.npy")
        (tmp / "previous" / "out").mkdir(parents=True)
        (tmp / "previous" / "out" / "labels.npy").write_bytes(b"previous labels")
        (tmp / "previous" / "out" / "notes.txt").write_text("kept")
        outcome = run_on_small_disk(tmp / "disk_old", tmp / "previous", infer, *base, "--out",
                                    tmp / "disk_old" / "out", "--logits", "--stages")
        check_full_disk_failure(check, "full disk, existing --out", outcome, tmp / "previous",
                                str(tmp / "disk_old" / "out"))

        check_images(check, infer, tmp)

        result = run(infer, "--help")
        check(result.returncode == 0 and "--points-cross" in result.stdout and "--image-size" in result.stdout,
              "--help does not list the configuration flags")

    for failure in failures:
        print("FAIL:", failure)
    print(f"test_voxformer_infer: {'ok' if not failures else f'{len(failures)} failure(s)'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Self-test of the whole-model fixtures (tests/fixtures/model/, written by generate_model_fixtures.py): camera images →
image path (image_backbone_reference.py) → stage 2 + head (voxformer_reference.py) → labels, one checkpoint.

Run: /usr/bin/python3 tests/reference/test_model_reference.py   (exit code 0 = all pass; ≈ 5 s on 2 threads)

Checks
- layout: the files, dtypes and shapes of the generator's docstring; config.json = the stage-2 keys of
  voxformer_reference.CONFIG_KEYS (readable by load_config once "image" is taken out) + the "image" object; the head's
  single feature level = the backbone's output shape for the crop, image_size = the crop, embed_dims = neck_channels;
  each case < 1 MB, all < 3 MB;
- the checkpoint: its keys are exactly the three official groups, in checkpoint order — img_backbone.* (= the
  reference ImageBackbone's keys of these widths, with the layer4 sample where layer4 goes), img_neck.*,
  pts_bbox_head.* (= the stage-2 reference's keys); F32 everywhere except the BatchNorm num_batches_tracked counters
  (I64, shape []); BatchNorm statistics calibrated (far from (0, 1), counters 1);
- the chain: the stored features = `ImageBackbone` (loaded from the checkpoint) on `preprocess`(images); every stored
  stage-2 output = `VoxFormerReference` (loaded from the same checkpoint) on exactly the stored float32 features,
  lidar2img and proposal; labels = argmax of logits;
- determinism: the generator rebuilds every committed case (weights, images, cameras, proposal, features, stages) and
  writes the same config.json; lidar2img = the sequence-08 calibration and poses of frame 1000 through
  `temporal_lidar2img`, rescaled to the crop (skipped without poses.txt);
- the tolerances of the generator's docstring have the claimed headroom: float64 image path within 1e-5 · max|f|,
  float64 chain within 2e-5 of every stored stage, smallest top-2 logit margin > 2 × 1e-4 (labels cannot flip within
  the logit tolerance); every camera sees some queries and some proposed queries are seen by no camera.
"""
import json
import os
import pathlib
import sys
import tempfile
import unittest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep (see test_backbone_reference.py)

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate_model_fixtures as gen  # noqa: E402
import image_backbone_reference as ib  # noqa: E402
import safetensors_io as st  # noqa: E402
import voxformer_reference as vr  # noqa: E402

FIXTURES = gen.DEFAULT_OUT
POSES = gen.find_poses()
GROUPS = ("img_backbone.", "img_neck.", vr.PREFIX)


def assert_close(got, want, tol, msg="", relative=False):
    """max |got − want| ≤ tol (· max |want| when relative)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{msg}: shape {got.shape} != {want.shape}"
    err = float(np.abs(got - want).max(initial=0.0))
    bound = tol * (float(np.abs(want).max(initial=0.0)) if relative else 1.0)
    assert err <= bound, f"{msg}: max error {err:.3e} > {bound:.3e}"


class Case:
    """A committed case read back: config (stage-2 part), image config, checkpoint and arrays."""

    def __init__(self, name):
        self.name, self.folder = name, FIXTURES / name
        with open(self.folder / "config.json") as f:
            self.raw_config = json.load(f)
        config = dict(self.raw_config)
        self.image = config.pop("image")
        self.cfg = vr.validate_config(config)
        self.weights = st.read_safetensors(self.folder / "weights.safetensors")
        self.header, self.metadata, _ = st.read_header(self.folder / "weights.safetensors")

    def load(self, stem):
        return np.load(self.folder / f"{stem}.npy")

    def backbone(self):
        return ib.model_from_state_dict({k: v for k, v in self.weights.items() if not k.startswith(vr.PREFIX)})

    def head(self):
        return vr.load_weights(vr.VoxFormerReference(self.cfg), self.weights)


def committed():
    names = [n for n in gen.CASES if (FIXTURES / n / "config.json").exists()]
    if not names:
        raise unittest.SkipTest("no committed model fixtures")
    return [Case(n) for n in names]


class TestLayout(unittest.TestCase):
    def test_all_cases_committed_and_small(self):
        cases = committed()
        self.assertEqual([c.name for c in cases], list(gen.CASES))
        total = 0
        for c in cases:
            size = sum(p.stat().st_size for p in c.folder.iterdir())
            self.assertLess(size, 1_000_000, c.name)
            total += size
        self.assertLess(total, 3_000_000)

    def test_files_dtypes_shapes(self):
        for c in committed():
            cfg, K, C = c.cfg, c.cfg["cameras"], c.cfg["embed_dims"]
            X, Y, Z = cfg["volume"]
            (h, w), = cfg["feature_shapes"]
            nq = int(c.load("proposal").sum())
            expected = {"images": (np.uint8, (K, *gen.IMAGE_SHAPE, 3)), "lidar2img": (np.float32, (K, 4, 4)),
                        "proposal": (np.uint8, (X, Y, Z)), "features": (np.float32, (K, C, h, w)),
                        "unmasked": (np.int32, (nq,)), "volume": (np.float32, (X * Y * Z, C)),
                        "logits": (np.float32, (cfg["classes"], 2 * X, 2 * Y, 2 * Z)),
                        "labels": (np.uint8, (2 * X, 2 * Y, 2 * Z))}
            expected.update({f"cross_layer{i}": (np.float32, (nq, C)) for i in range(cfg["layers_cross"])})
            expected.update({f"self_layer{i}": (np.float32, (X * Y * Z, C)) for i in range(cfg["layers_self"])})
            files = {p.name for p in c.folder.iterdir()}
            self.assertEqual(files, {f"{s}.npy" for s in expected} | {"config.json", "weights.safetensors"}, c.name)
            for stem, (dtype, shape) in expected.items():
                a = c.load(stem)
                self.assertEqual((a.dtype, a.shape), (np.dtype(dtype), shape), f"{c.name}/{stem}")
            self.assertTrue(set(np.unique(c.load("proposal"))) <= {0, 1})

    def test_config(self):
        for c in committed():
            self.assertEqual(list(c.raw_config), list(vr.CONFIG_KEYS) + ["image"], c.name)
            self.assertEqual(c.image, gen.image_config(), c.name)
            self.assertEqual(list(c.image), ["crop", "mean", "std", "base_width", "blocks", "neck_channels"])
            self.assertEqual(c.cfg, gen.head_config(c.cfg["variant"]), c.name)
            shapes = ib.stage_shapes(c.image["crop"], c.image["base_width"], c.image["neck_channels"])
            self.assertEqual(c.cfg["levels"], 1)
            self.assertEqual(c.cfg["feature_shapes"], [list(shapes["features"][1:])])
            self.assertEqual(c.cfg["image_size"], c.image["crop"])
            self.assertEqual(c.cfg["embed_dims"], c.image["neck_channels"])
            self.assertEqual(c.cfg["cameras"], len(ib.TEMPORAL_OFFSETS[c.cfg["variant"][0]]))
            with tempfile.TemporaryDirectory() as d:  # the stage-2 part is a valid reference config file
                path = os.path.join(d, "config.json")
                with open(path, "w") as f:
                    json.dump(c.cfg, f)
                self.assertEqual(vr.load_config(path), c.cfg)
        self.assertEqual({c.cfg["variant"] for c in committed()}, {"S", "T", "T-3D"})


class TestCheckpoint(unittest.TestCase):
    def test_keys_are_the_three_official_groups(self):
        for c in committed():
            order = [k for k, _ in sorted(c.header.items(), key=lambda kv: kv[1]["data_offsets"][0])]
            self.assertEqual(order, list(c.weights))
            model = ib.ImageBackbone(c.image["base_width"], c.image["blocks"], c.image["neck_channels"])
            backbone = [k for k in model.state_dict() if k.startswith("img_backbone.")]
            neck = [k for k in model.state_dict() if k.startswith("img_neck.")]
            layer4 = list(ib._layer4_sample(model, 0))
            head = [vr.PREFIX + k for k in vr.VoxFormerReference(c.cfg).state_dict()]
            self.assertEqual(order, backbone + layer4 + neck + head, c.name)
            self.assertTrue(all(k.startswith(GROUPS) for k in order))
            for g in GROUPS:
                self.assertTrue(any(k.startswith(g) for k in order), g)

    def test_dtypes_and_counters(self):
        for c in committed():
            for k, info in c.header.items():
                if k.endswith("num_batches_tracked"):
                    self.assertEqual((info["dtype"], info["shape"]), ("I64", []), k)
                else:
                    self.assertEqual(info["dtype"], "F32", k)
            counters = [k for k in c.weights if k.endswith("num_batches_tracked")]
            bns = [k[:-len(".running_mean")] for k in c.weights if k.endswith(".running_mean")]
            self.assertEqual(len(counters), len(bns))
            for bn in bns:
                if bn.startswith("img_backbone.layer4."):
                    continue
                # calibrated on one batch: counter 1, statistics far from the reset (0, 1)
                self.assertEqual(int(c.weights[bn + ".num_batches_tracked"]), 1, bn)
                self.assertGreater(float(c.weights[bn + ".running_mean"].abs().max()), 0.05, bn)
                self.assertGreater(float((c.weights[bn + ".running_var"] - 1).abs().max()), 0.05, bn)

    def test_loaders_take_their_parts(self):
        for c in committed():
            model = c.backbone()
            self.assertEqual((model.base_width, list(model.blocks), model.neck_channels),
                             (c.image["base_width"], c.image["blocks"], c.image["neck_channels"]))
            head = c.head()  # strict: every pts_bbox_head.* key used, none missing
            self.assertEqual(len(head.state_dict()), sum(k.startswith(vr.PREFIX) for k in c.weights))


class TestChain(unittest.TestCase):
    def test_features_are_the_image_backbone_on_the_images(self):
        for c in committed():
            net_input = ib.preprocess(c.load("images"), c.image["crop"], c.image["mean"], c.image["std"])
            with torch.no_grad():
                features = c.backbone()(net_input).numpy()
            assert_close(features, c.load("features"), 1e-5, f"{c.name}/features", relative=True)
            # order 1: calibrated statistics keep the activations from growing or vanishing
            self.assertTrue(0.3 < features.std() < 3.0 and np.abs(features).max() < 20.0, c.name)

    def test_stages_are_the_stage2_reference_on_the_features(self):
        for c in committed():
            features = torch.from_numpy(c.load("features"))
            res = c.head()([features.unsqueeze(0)], c.load("lidar2img"), c.load("proposal"))
            self.assertTrue(np.array_equal(res["unmasked"], c.load("unmasked")), c.name)
            C = c.cfg["embed_dims"]
            for i, a in enumerate(res["cross_layers"]):
                assert_close(np.asarray(a).reshape(-1, C), c.load(f"cross_layer{i}"), 1e-5, f"{c.name}/cross{i}")
            assert_close(res["volume"], c.load("volume"), 1e-5, f"{c.name}/volume")
            for i, a in enumerate(res["self_layers"]):
                assert_close(a, c.load(f"self_layer{i}"), 1e-5, f"{c.name}/self{i}")
            assert_close(res["logits"].numpy(), c.load("logits"), 1e-5, f"{c.name}/logits")
            self.assertTrue(np.array_equal(res["labels"], c.load("labels")), c.name)
            self.assertTrue(np.array_equal(np.argmax(c.load("logits"), 0).astype(np.uint8), c.load("labels")))
            vis = res["visible"]
            self.assertTrue((vis.sum(1) > 0).all(), f"{c.name}: a camera sees no query")
            self.assertTrue((vis.sum(0) == 0).any(), f"{c.name}: every query is seen")
            self.assertTrue(np.array_equal(np.flatnonzero(c.load("proposal").reshape(-1)), c.load("unmasked")))


class TestGenerator(unittest.TestCase):
    def test_cases_reproduce(self):
        if POSES is None:
            self.skipTest("no sequence-08 poses.txt: the T cases cannot be rebuilt")
        for c in committed():
            case = gen.build_case(c.name, POSES)
            self.assertTrue(np.array_equal(case["images"], c.load("images")), c.name)
            self.assertTrue(np.array_equal(case["lidar2img"], c.load("lidar2img")), c.name)
            self.assertTrue(np.array_equal(case["proposal"], c.load("proposal")), c.name)
            assert_close(case["features"].numpy(), c.load("features"), 1e-5, f"{c.name}/features", relative=True)
            for stem, a in gen.stage_arrays(case).items():
                if a.dtype.kind in "iu":
                    self.assertTrue(np.array_equal(a, c.load(stem)), f"{c.name}/{stem}")
                else:
                    assert_close(a, c.load(stem), 1e-5, f"{c.name}/{stem}")
            fresh = gen.checkpoint(case)
            self.assertEqual(list(fresh), list(c.weights), c.name)
            for k, v in c.weights.items():
                self.assertEqual(fresh[k].dtype, v.dtype, k)
                assert_close(fresh[k].double().numpy(), v.double().numpy(), 1e-6, k, relative=True)

    def test_written_files_equal(self):
        """write_case of the smallest case into a temporary folder: same config.json bytes, same file set, same
        integer files byte for byte."""
        if POSES is None:
            self.skipTest("no sequence-08 poses.txt")
        name = "s_images"
        with tempfile.TemporaryDirectory() as d:
            gen.write_case(pathlib.Path(d), name, POSES, log=lambda *_: None)
            fresh = {p.name for p in pathlib.Path(d).iterdir()}
            self.assertEqual(fresh, {p.name for p in (FIXTURES / name).iterdir()})
            for f in ("config.json", "images.npy", "lidar2img.npy", "proposal.npy", "unmasked.npy", "labels.npy"):
                self.assertEqual(pathlib.Path(d, f).read_bytes(), (FIXTURES / name / f).read_bytes(), f)

    def test_lidar2img_from_calib_and_poses(self):
        if POSES is None:
            self.skipTest("no sequence-08 poses.txt")
        p2, tr = ib.read_calib(gen.DATA / "calib.txt")
        poses = ib.read_lidar_poses(POSES, tr)
        for c in committed():
            mats, ids = ib.temporal_lidar2img(p2, tr, poses, gen.FRAME, ib.TEMPORAL_OFFSETS[c.cfg["variant"][0]])
            scale = np.diag([c.image["crop"][1] / 1220, c.image["crop"][0] / 370, 1.0, 1.0])
            self.assertTrue(np.array_equal((scale @ mats).astype(np.float32), c.load("lidar2img")), c.name)
            self.assertEqual(ids.tolist(), [1000, 988, 991, 994, 997][:c.cfg["cameras"]])
            # the reduced camera normalises exactly like the official one: same visible voxels
            official = dict(c.cfg, image_size=list(vr.OFFICIAL_IMAGE_SIZE))
            self.assertTrue(np.array_equal(gen.gp.visibility(c.cfg, c.load("lidar2img")),
                                           gen.gp.visibility(official, mats)), c.name)


class TestTolerances(unittest.TestCase):
    """The headroom the generator's docstring claims for the C++ tolerances."""

    def test_float64_chain_is_far_within_the_tolerances(self):
        for c in committed():
            net_input = ib.preprocess(c.load("images"), c.image["crop"], c.image["mean"], c.image["std"])
            with torch.no_grad():
                f64 = c.backbone().double()(net_input.double())
            assert_close(f64.numpy(), c.load("features"), 1e-5, f"{c.name}/features f64", relative=True)
            head = c.head().double()
            res = head([f64.unsqueeze(0)], c.load("lidar2img"), c.load("proposal"))
            C = c.cfg["embed_dims"]
            for i, a in enumerate(res["cross_layers"]):
                assert_close(np.asarray(a).reshape(-1, C), c.load(f"cross_layer{i}"), 2e-5, f"{c.name}/cross{i}")
            assert_close(res["volume"], c.load("volume"), 2e-5, f"{c.name}/volume")
            for i, a in enumerate(res["self_layers"]):
                assert_close(a, c.load(f"self_layer{i}"), 2e-5, f"{c.name}/self{i}")
            assert_close(res["logits"].numpy(), c.load("logits"), 2e-5, f"{c.name}/logits")
            self.assertTrue(np.array_equal(res["labels"], c.load("labels")), c.name)

    def test_labels_cannot_flip_within_the_logit_tolerance(self):
        for c in committed():
            top2 = np.sort(c.load("logits"), axis=0)[-2:]
            self.assertGreater(float((top2[1] - top2[0]).min()), 2 * 1e-4, c.name)

    def test_visibility_is_far_from_the_border(self):
        for c in committed():
            case = {"cfg": c.cfg, "lidar2img": c.load("lidar2img")}
            border, depth = gen.visibility_margin(case)
            self.assertGreater(border, 1e-4, c.name)
            self.assertGreater(depth, 0.5, c.name)


if __name__ == "__main__":
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)

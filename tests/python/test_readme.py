"""The README's Python snippet, run as written in a folder holding the files it names: random official-size
VoxFormer-S weights (scripts/random_weights.py), random features, the bundled frame's camera and its scan voxelised
as the proposal. It must print the stage table and write a 256 x 256 PNG."""
import pathlib
import re
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "data"
MARKER = "<!-- python snippet: tests/python/test_readme.py -->"


def readme_snippet():
    match = re.search(re.escape(MARKER) + r"\s*```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert match, f"README.md has no ```python block after {MARKER}"
    return match.group(1)


def test_readme_snippet_runs_as_written(tmp_path):
    pytest.importorskip("torch")  # scripts/random_weights.py draws the weights with the PyTorch reference
    sys.path.insert(0, str(ROOT / "tests" / "reference"))
    import voxformer_reference as vr

    subprocess.run([sys.executable, str(ROOT / "scripts" / "random_weights.py"), "--variant", "S", "--seed", "3",
                    "--out", str(tmp_path / "voxformer_s.safetensors")], check=True, capture_output=True)
    rng = np.random.default_rng(0)
    np.save(tmp_path / "features.npy", rng.standard_normal((1, 1, 128, 24, 77), dtype=np.float32))
    np.save(tmp_path / "lidar2img.npy", vr.read_calibration(DATA / "semantickitti_08_001000" / "calib.txt")[None]
            .astype(np.float32))
    np.save(tmp_path / "proposal.npy", vr.voxelize_scan(DATA / "semantickitti_08_001000" / "scan.bin"))
    (tmp_path / "examples" / "data").mkdir(parents=True)
    shutil.copy(DATA / "semantic-kitti.yaml", tmp_path / "examples" / "data")

    run = subprocess.run([sys.executable, "-c", readme_snippet()], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    table = run.stdout.splitlines()
    assert table[0].split() == ["stage", "ms", "MiB"] and table[-1].split()[0] == "total", run.stdout
    png = (tmp_path / "scene.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (256, 256)  # IHDR: width, height

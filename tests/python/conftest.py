"""Shared fixtures of the Python module's tests (tests/python/).

The tests import only the installed module (`import voxformer`) and read the committed fixtures of
tests/fixtures/, written by the PyTorch reference of tests/reference/ (from the spec), relative to this file.
PyTorch is optional: the tests that need it (tensors as inputs, the PyTorch reference ops) skip without it.
"""

from __future__ import annotations

import ctypes
import json
import pathlib
import sys

import numpy as np
import pytest

TESTS = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = TESTS / "fixtures"
REFERENCE = TESTS / "reference"
ROOT = TESTS.parent


@pytest.fixture(scope="session")
def fixtures_dir() -> pathlib.Path:
    return FIXTURES


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
    return ROOT


class PipelineCase:
    """A stage-2 fixture (tests/fixtures/pipeline/<name>/): config.json, weights.safetensors, the inputs
    (features<l>.npy, one per level; lidar2img.npy; proposal.npy) and every stage the reference computed."""

    def __init__(self, name: str):
        self.name = name
        self.dir = FIXTURES / "pipeline" / name
        self.config_path = self.dir / "config.json"
        self.weights = self.dir / "weights.safetensors"
        self.json = json.loads(self.config_path.read_text())
        self.levels = len(self.json["feature_shapes"])
        assert self.levels == self.json["levels"]
        self.features = [np.load(self.dir / f"features{level}.npy") for level in range(self.levels)]
        self.lidar2img = np.load(self.dir / "lidar2img.npy")
        self.proposal = np.load(self.dir / "proposal.npy")

    def expected(self, name: str) -> np.ndarray:
        return np.load(self.dir / f"{name}.npy")

    def pipeline(self, **kwargs):
        import voxformer

        return voxformer.Pipeline(config=self.config_path, weights=self.weights, **kwargs)

    def run(self, pipeline, **kwargs):
        return pipeline.run(self.features, self.lidar2img, self.proposal, **kwargs)


_pipeline_cases: dict[str, PipelineCase] = {}


def pipeline_case(name: str) -> PipelineCase:
    if name not in _pipeline_cases:
        _pipeline_cases[name] = PipelineCase(name)
    return _pipeline_cases[name]


@pytest.fixture(scope="session")
def load_pipeline_case():
    """`load_pipeline_case(name)`: the PipelineCase of tests/fixtures/pipeline/<name> (read once)."""
    return pipeline_case


@pytest.fixture(scope="session")
def t_small() -> PipelineCase:
    return pipeline_case("t_small")


@pytest.fixture(scope="session")
def t_small_pipeline(t_small):
    """One VoxFormer-T pipeline (the t_small fixture's weights) shared by the tests that only run it."""
    return t_small.pipeline()


@pytest.fixture(scope="session")
def t_small_result(t_small, t_small_pipeline):
    """The t_small pipeline's labels, logits and stages on its fixture inputs (NumPy, contiguous)."""
    return t_small.run(t_small_pipeline, logits=True, stages=True)


def labels_agree(labels: np.ndarray, reference_labels: np.ndarray, reference_logits: np.ndarray, gap: float = 2e-4):
    """(disagreeing, compared, voxels): labels compared wherever the reference's two best logits are more than
    `gap` apart — nearer ties may go either way (tests/support/pipeline_fixture.hpp, expect_labels)."""
    top2 = np.sort(reference_logits.reshape(reference_logits.shape[0], -1), axis=0)[-2:]
    clear = (top2[1] - top2[0] > gap).reshape(labels.shape)
    return int(np.count_nonzero(labels[clear] != reference_labels[clear])), int(clear.sum()), labels.size


@pytest.fixture(scope="session")
def check_labels():
    """`check_labels(labels, reference_labels, reference_logits)`: asserts the C++ tests' label rule."""

    def check(labels, reference_labels, reference_logits, gap=2e-4):
        assert labels.shape == reference_labels.shape and labels.dtype == np.uint8
        wrong, compared, voxels = labels_agree(labels, reference_labels, reference_logits, gap)
        assert wrong == 0, f"{wrong} of {compared} clearly decided voxels differ from the reference"
        assert compared > voxels * 99 // 100, f"only {compared} of {voxels} voxels clearly decided"

    return check


@pytest.fixture(scope="session")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="session")
def torch_reference(torch):
    """tests/reference/voxformer_reference.py (PyTorch, written from the spec), imported by path."""
    if str(REFERENCE) not in sys.path:
        sys.path.insert(0, str(REFERENCE))
    import voxformer_reference

    return voxformer_reference


@pytest.fixture(scope="session")
def metrics_reference():
    """tests/reference/ssc_metrics_reference.py (NumPy only), imported by path."""
    if str(REFERENCE) not in sys.path:
        sys.path.insert(0, str(REFERENCE))
    import ssc_metrics_reference

    return ssc_metrics_reference


# --------------------------------------------------------------------------------------------------------------
# A DLPack producer that claims its memory is on a CUDA device (this PyTorch may have no CUDA): the capsule says
# kDLCUDA and its data pointer is an unmapped address, as device memory is to the host, so that code which reads it
# on the host crashes the test run instead of passing unnoticed.
# --------------------------------------------------------------------------------------------------------------


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class DLManagedTensor(ctypes.Structure):
    pass


DLManagedTensor._fields_ = [
    ("dl_tensor", DLTensor),
    ("manager_ctx", ctypes.c_void_p),
    ("deleter", ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))),
]

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]

KDL_CUDA = 2
UNMAPPED_ADDRESS = 0x1000  # the first pages are never mapped on Linux (vm.mmap_min_addr)
_DL_CODES = {"i": 0, "u": 1, "f": 2, "b": 6}


class FakeCudaArray:
    """`__dlpack__()` gives a "dltensor" capsule (no deleter) of `host`'s memory labelled kDLCUDA device 0;
    `__dlpack_device__()` is (2, 0). Every ctypes object a capsule points to is kept alive here."""

    def __init__(self, host: np.ndarray, device_id: int = 0):
        self.host = np.ascontiguousarray(host)
        self.device_id = device_id
        self.exports = 0
        self._keep = []

    def __dlpack__(self, **kwargs):  # stream=, max_version=, ... accepted and ignored
        a = self.host
        shape = (ctypes.c_int64 * a.ndim)(*a.shape)
        strides = (ctypes.c_int64 * a.ndim)(*[s // a.itemsize for s in a.strides])
        managed = DLManagedTensor()
        managed.dl_tensor.data = UNMAPPED_ADDRESS
        managed.dl_tensor.device = DLDevice(KDL_CUDA, self.device_id)
        managed.dl_tensor.ndim = a.ndim
        managed.dl_tensor.dtype = DLDataType(_DL_CODES[a.dtype.kind], a.itemsize * 8, 1)
        managed.dl_tensor.shape = shape
        managed.dl_tensor.strides = strides
        managed.dl_tensor.byte_offset = 0
        self._keep += [shape, strides, managed]
        self.exports += 1
        return _capsule_new(ctypes.addressof(managed), b"dltensor", None)

    def __dlpack_device__(self):
        return (KDL_CUDA, self.device_id)


@pytest.fixture(scope="session")
def fake_cuda():
    """`fake_cuda(array)`: a DLPack producer of `array`'s bytes that says they live on CUDA device 0."""
    return FakeCudaArray

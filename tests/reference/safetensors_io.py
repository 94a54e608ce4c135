"""Minimal safetensors reader/writer (no `safetensors` package needed).

Format: 8-byte little-endian unsigned header length N, then N bytes of UTF-8 JSON
  {name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}
(offsets relative to the first byte after the header; tensors tile the data section in order, without gaps),
then the data section. The header is padded with spaces so that 8 + N is a multiple of 8. All data little-endian,
C order.

Tensors are written in the order of the dict given; `read_safetensors` returns them in file order.
Values may be torch tensors or numpy arrays; `read_safetensors` returns torch tensors (BF16 needs torch).
"""
import json
import struct

import numpy as np
import torch

# safetensors dtype name -> (numpy dtype or None, torch dtype, item size)
_DTYPES = {
    "F64": (np.float64, torch.float64, 8),
    "F32": (np.float32, torch.float32, 4),
    "F16": (np.float16, torch.float16, 2),
    "BF16": (None, torch.bfloat16, 2),
    "I64": (np.int64, torch.int64, 8),
    "I32": (np.int32, torch.int32, 4),
    "I16": (np.int16, torch.int16, 2),
    "I8": (np.int8, torch.int8, 1),
    "U8": (np.uint8, torch.uint8, 1),
    "BOOL": (np.bool_, torch.bool, 1),
}
_FROM_TORCH = {v[1]: k for k, v in _DTYPES.items()}
_FROM_NUMPY = {np.dtype(v[0]): k for k, v in _DTYPES.items() if v[0] is not None}
# numpy dtypes without a torch equivalent in 1.13 (written as raw little-endian bytes)
_FROM_NUMPY.update({np.dtype(np.uint16): "U16", np.dtype(np.uint32): "U32", np.dtype(np.uint64): "U64"})
_NUMPY_ONLY = {"U16": np.uint16, "U32": np.uint32, "U64": np.uint64}


def _to_bytes(value):
    """(dtype name, shape, raw little-endian C-order bytes) of a tensor or array."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        name = _FROM_TORCH.get(t.dtype)
        if name is None:
            raise TypeError(f"unsupported torch dtype {t.dtype}")
        shape = list(t.shape)
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the 16-bit patterns
            raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            raw = np.ascontiguousarray(t.numpy()).astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        return name, shape, raw
    a = np.asarray(value)
    name = _FROM_NUMPY.get(a.dtype.newbyteorder("="))
    if name is None:
        raise TypeError(f"unsupported numpy dtype {a.dtype}")
    return name, list(a.shape), np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()


def write_safetensors(path, tensors, metadata=None):
    """Writes `tensors` (dict name -> torch.Tensor / np.ndarray) to `path` with optional string metadata."""
    header = {}
    chunks = []
    offset = 0
    for name, value in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved")
        dtype, shape, raw = _to_bytes(value)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-(8 + len(text))) % 8)  # 8 + N is a multiple of 8
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


def read_header(path):
    """(header dict without '__metadata__', metadata dict, data section start)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    return header, metadata, 8 + n


def read_safetensors(path, with_metadata=False):
    """dict name -> torch.Tensor (numpy array for U16/U32/U64); with_metadata=True also returns the metadata."""
    header, metadata, start = read_header(path)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    out = {}
    expected = 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = info["data_offsets"]
        if begin != expected:
            raise ValueError(f"{path}: tensor '{name}' does not follow the previous one (gap or overlap)")
        expected = end
        dtype, shape = info["dtype"], info["shape"]
        raw = data[begin:end]
        if dtype in _NUMPY_ONLY:
            out[name] = np.frombuffer(raw, dtype=np.dtype(_NUMPY_ONLY[dtype]).newbyteorder("<")).reshape(shape).copy()
            continue
        np_dtype, torch_dtype, size = _DTYPES[dtype]
        count = int(np.prod(shape)) if shape else 1
        if len(raw) != count * size:
            raise ValueError(f"{path}: tensor '{name}' has {len(raw)} bytes, expected {count * size}")
        if dtype == "BF16":
            bits = np.frombuffer(raw, dtype="<i2").astype(np.int16).reshape(shape)
            out[name] = torch.from_numpy(bits.copy()).view(torch.bfloat16)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(np_dtype).newbyteorder("<")).astype(np_dtype).reshape(shape)
            out[name] = torch.from_numpy(arr.copy())
    if expected != len(data):
        raise ValueError(f"{path}: data section has {len(data)} bytes, tensors cover {expected}")
    return (out, metadata) if with_metadata else out

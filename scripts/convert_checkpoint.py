#!/usr/bin/env python3
"""Converts a PyTorch checkpoint (.pth) to safetensors, keeping every tensor name and dtype.

  /usr/bin/python3 scripts/convert_checkpoint.py IN.pth OUT.safetensors

Loads with torch.load(map_location='cpu'), takes ['state_dict'] when present (mmcv/mmdet checkpoints:
img_backbone.*, img_neck.*, pts_bbox_head.*; LMSCNet: no prefix), keeps names and dtypes (F32/F16/BF16/I64/…,
BatchNorm `num_batches_tracked` as int64 scalars of shape []), makes tensors contiguous and writes them with
metadata {"source": <file name>, "format": "pt"}. Tensors that share storage are written as separate copies;
non-tensor entries are skipped (and listed). Prints counts per top-level prefix.
"""
import collections
import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "reference"))

import safetensors_io as st  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    ckpt = torch.load(src, map_location="cpu")
    sd = ckpt["state_dict"] if isinstance(ckpt, dict) and "state_dict" in ckpt else ckpt
    if not isinstance(sd, dict):
        sys.exit(f"{src}: no state dict found (got {type(sd).__name__})")
    tensors, skipped = {}, []
    for name, value in sd.items():
        if isinstance(value, torch.Tensor):
            tensors[name] = value.detach().contiguous()
        else:
            skipped.append(name)
    st.write_safetensors(dst, tensors, {"source": src.name, "format": "pt"})

    per_prefix = collections.OrderedDict()
    for name, t in tensors.items():
        prefix = name.split(".", 1)[0] if "." in name else "(none)"
        n, params, nbytes = per_prefix.get(prefix, (0, 0, 0))
        per_prefix[prefix] = (n + 1, params + t.numel(), nbytes + t.numel() * t.element_size())
    dtypes = collections.Counter(str(t.dtype).replace("torch.", "") for t in tensors.values())
    print(f"{src} → {dst}: {len(tensors)} tensors, {sum(p[1] for p in per_prefix.values())} elements, "
          f"dtypes {dict(dtypes)}")
    for prefix, (n, params, nbytes) in per_prefix.items():
        print(f"  {prefix:24s} {n:5d} tensors {params:12d} elements {nbytes / 2**20:10.2f} MiB")
    if skipped:
        print(f"  skipped {len(skipped)} non-tensor entries: {', '.join(skipped[:10])}")


if __name__ == "__main__":
    main()

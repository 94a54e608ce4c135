"""VoxFormer camera-based semantic scene completion from Python.

The voxformer-cpp library's CPU pipelines and primitives, run on NumPy arrays and PyTorch tensors (anything
speaking DLPack or the buffer protocol) without copying them; C++ runs without the GIL. Bad input raises
ValueError (shapes, element types, values, aliasing) or FileNotFoundError (files) with the library's message.

    import voxformer
    pipeline = voxformer.Pipeline("S", weights="voxformer_s.safetensors")
    result = pipeline.run(features, lidar2img, proposal)       # features float32 [1, K, 128, 24, 77]
    result["labels"]                                            # uint8 [256, 256, 32]
    print(voxformer.format_report(pipeline.report))
"""

from ._voxformer import (
    PRESETS,
    Config,
    Model,
    Pipeline,
    ProposalNetwork,
    SSCMetrics,
    __version__,
    bird_eye_view,
    class_palette,
    load_config,
    ms_deform_attn,
    ms_deform_attn_3d,
    project_to_cameras,
    proposal_indices,
    scatter_with_mask_token,
    write_png,
)

__all__ = [
    "PRESETS",
    "Config",
    "Model",
    "Pipeline",
    "ProposalNetwork",
    "SSCMetrics",
    "__version__",
    "bird_eye_view",
    "class_palette",
    "format_report",
    "load_config",
    "ms_deform_attn",
    "ms_deform_attn_3d",
    "project_to_cameras",
    "proposal_indices",
    "scatter_with_mask_token",
    "write_png",
]


def format_report(report: dict) -> str:
    """A pipeline's report (``Pipeline.report``) as a table: each stage's time and working memory, then the total."""
    rows = [(s["name"], f"{s['ms']:.1f}", f"{s['bytes'] / 2**20:.1f}") for s in report["stages"]]
    rows.append(("total", f"{report['total_ms']:.1f}", f"{report['workspace_bytes'] / 2**20:.1f}"))
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{'stage':<{width}}  {'ms':>9}  {'MiB':>8}"]
    lines += [f"{name:<{width}}  {ms:>9}  {mib:>8}" for name, ms, mib in rows]
    return "\n".join(lines)

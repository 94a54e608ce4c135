"""The package itself: its version is the CMake project's, every name it exports exists and is documented, and
format_report lays a report out as a table."""

import re

import voxformer

API = ["PRESETS", "Config", "Model", "Pipeline", "ProposalNetwork", "SSCMetrics", "__version__", "bird_eye_view",
       "class_palette", "format_report", "load_config", "ms_deform_attn", "ms_deform_attn_3d", "project_to_cameras",
       "proposal_indices", "scatter_with_mask_token", "write_png"]


def test_version_is_the_projects(repo_root):
    project = re.search(r"project\(voxformer VERSION ([0-9.]+)", (repo_root / "CMakeLists.txt").read_text())
    assert project and voxformer.__version__ == project.group(1)


def test_the_exported_names():
    for name in API:
        assert name in voxformer.__all__, name
    for name in voxformer.__all__:
        assert hasattr(voxformer, name), name
        if callable(getattr(voxformer, name)):
            assert (getattr(voxformer, name).__doc__ or "").strip(), f"{name} has no docstring"


def test_format_report():
    report = {"stages": [{"name": "proposal", "ms": 0.04, "bytes": 3 * 2**20},
                         {"name": "cross_layer0", "ms": 12.345, "bytes": 2**19}],
              "total_ms": 12.4, "workspace_bytes": 5 * 2**20}
    lines = voxformer.format_report(report).splitlines()
    assert [line.split() for line in lines] == [["stage", "ms", "MiB"], ["proposal", "0.0", "3.0"],
                                                ["cross_layer0", "12.3", "0.5"], ["total", "12.4", "5.0"]]
    assert len({len(line) for line in lines}) == 1  # aligned columns

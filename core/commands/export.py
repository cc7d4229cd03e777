"""``mtface export --onnx OUT.onnx``: the cascade as an ONNX graph.

Input ``image`` (N, 3, S, S) float RGB in [0, 1] (S = the crop size, 120 by default); outputs in
normalised crop coordinates (core.model): ``keypoints`` (N, 68, 3), ``vertices`` (N, V, 3),
``pose`` (N, 3) degrees / 90, ``visibility`` (N, 68) scores (visible where > 0), all of the last
stage. With onnxruntime installed the export is checked against PyTorch on random crops.
The graph is the network alone: the 3d offsets (core/landmarks3d.py), the 2d definition and its
refiner are post-processing in the predictor, beside the weights, and not part of it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from mtface.core.checkpoint import load_cascade
from mtface.core.formats.atomic import atomic_write
from mtface.core.model import CascadeMTCNN, fuse_batchnorm

OUTPUTS = ["keypoints", "vertices", "pose", "visibility"]


class _LastStage(torch.nn.Module):
    def __init__(self, model: CascadeMTCNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(image)
        return out.keypoints[-1], out.vertices[-1], out.pose[-1], out.visibility[-1]


def export_onnx(model: CascadeMTCNN, path: Path, opset: int = 17) -> float | None:
    """Write the ONNX file; returns the largest difference to PyTorch (None without
    onnxruntime)."""
    # eval() on the wrapper too: the exporter restores the wrapper's mode afterwards, and a
    # wrapper left in training mode would switch the model's dropout back on
    wrapper = _LastStage(fuse_batchnorm(model.eval())).eval()
    size = model.config.crop_size
    example = torch.rand(1, 3, size, size)
    path = Path(path)
    atomic_write(
        path,
        lambda tmp: torch.onnx.export(
            wrapper,
            (example,),
            str(tmp),
            input_names=["image"],
            output_names=OUTPUTS,
            dynamic_axes={"image": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        ),
    )
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    check = torch.rand(3, 3, size, size)
    with torch.no_grad():
        reference = wrapper(check)
    got = session.run(None, {"image": check.numpy()})
    return float(max(np.abs(g - r.numpy()).max() for g, r in zip(got, reference)))


def run_export(onnx_path: Path, weights: Path | None = None) -> int:
    from mtface.core.weights import WeightsError

    try:
        model, _ = load_cascade(weights)
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        diff = export_onnx(model, onnx_path)
    except (ImportError, RuntimeError) as exc:
        print(f"error: ONNX export failed ({exc}); it needs the 'onnx' package", file=sys.stderr)
        return 2
    check = (
        "not checked (install onnxruntime)"
        if diff is None
        else f"max difference to PyTorch {diff:.2e}"
    )
    print(f"wrote {onnx_path}: {check}", file=sys.stderr)
    return 0 if diff is None or diff < 1e-3 else 1

"""A small PyTorch executor for converted TFLite convolutional graphs (BlazeFace).

The graph file (written by ``tools/convert_blazeface.py``) lists the operators in execution order
with their TFLite options and holds the fp32 weights. Activations are kept NCHW; the two
operators with NHWC semantics (RESHAPE, CONCATENATION of 4-D tensors) permute first.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

_SAME, _VALID = 0, 1
_RELU, _RELU6 = 1, 3


def _activation(x: torch.Tensor, code: int) -> torch.Tensor:
    if code == _RELU:
        return F.relu(x)
    if code == _RELU6:
        return F.relu6(x)
    if code != 0:
        raise ValueError(f"unsupported fused activation {code}")
    return x


def _same_padding(
    x: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    value: float = 0.0,
) -> torch.Tensor:
    """TensorFlow 'SAME' padding (the extra pixel goes after). x (N, C, H, W)."""
    pads = []
    for size, k, s, d in zip(x.shape[-2:], kernel, stride, dilation):
        effective = (k - 1) * d + 1
        total = max((math.ceil(size / s) - 1) * s + effective - size, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), value=value)
    return x


class TFLiteGraph(nn.Module):
    """Executes a converted graph. forward(x: (N, H, W, C) float) -> list of outputs."""

    def __init__(self, graph: dict) -> None:
        super().__init__()
        if graph.get("format") != "mtface-tflite-graph/1":
            raise ValueError("not an mtface tflite graph file")
        self.ops: list[dict] = graph["ops"]
        self.input_id: int = graph["input"]
        self.input_shape: list[int] = graph["input_shape"]
        self.output_ids: list[int] = graph["outputs"]
        self.reshape_shapes: dict[str, list[int]] = graph["reshape_shapes"]
        self.constants: dict[str, torch.Tensor] = {}
        for key, value in graph["constants"].items():
            name = f"c{key}"
            self.register_buffer(name, self._prepare(key, value), persistent=False)
            self.constants[key] = getattr(self, name)

    def _prepare(self, key: str, value: torch.Tensor) -> torch.Tensor:
        for op in self.ops:
            if op["type"] == "CONV_2D" and op["inputs"][1] == int(key):
                return value.permute(0, 3, 1, 2).contiguous()  # OHWI -> OIHW
            if op["type"] == "DEPTHWISE_CONV_2D" and op["inputs"][1] == int(key):
                return value.permute(3, 0, 1, 2).contiguous()  # 1HWC -> C1HW
            if op["type"] == "PRELU" and op["inputs"][1] == int(key):
                return value.reshape(-1)
        return value

    @staticmethod
    def load(path: Path) -> TFLiteGraph:
        return TFLiteGraph(torch.load(path, map_location="cpu", weights_only=True))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        values: dict[int, torch.Tensor] = {self.input_id: x.permute(0, 3, 1, 2)}

        def get(index: int) -> torch.Tensor:
            return values[index] if index in values else self.constants[str(index)]

        for op in self.ops:
            kind, ins, out = op["type"], op["inputs"], op["outputs"][0]
            if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                inp, weight = get(ins[0]), get(ins[1])
                bias = get(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
                stride = (op["stride_h"], op["stride_w"])
                dilation = (op["dilation_h"], op["dilation_w"])
                if op["padding"] == _SAME:
                    inp = _same_padding(inp, tuple(weight.shape[-2:]), stride, dilation)
                groups = inp.shape[1] if kind == "DEPTHWISE_CONV_2D" else 1
                y = F.conv2d(inp, weight, bias, stride, 0, dilation, groups)
                values[out] = _activation(y, op["activation"])
            elif kind == "RELU":
                values[out] = F.relu(get(ins[0]))
            elif kind == "PRELU":
                inp = get(ins[0])
                values[out] = F.prelu(inp, get(ins[1]))
            elif kind == "ADD":
                values[out] = _activation(get(ins[0]) + get(ins[1]), op["activation"])
            elif kind == "PAD":
                inp, pads = get(ins[0]), get(ins[1]).tolist()  # NHWC [[b, a], ...]
                (_, _), (top, bottom), (left, right), (front, back) = pads
                values[out] = F.pad(inp, (left, right, top, bottom, front, back))
            elif kind == "MAX_POOL_2D":
                inp = get(ins[0])
                kernel, stride = (op["filter_h"], op["filter_w"]), (op["stride_h"], op["stride_w"])
                if op["padding"] == _SAME:
                    inp = _same_padding(inp, kernel, stride, value=float("-inf"))
                values[out] = _activation(F.max_pool2d(inp, kernel, stride), op["activation"])
            elif kind == "RESHAPE":
                inp = get(ins[0])
                if inp.dim() == 4:
                    inp = inp.permute(0, 2, 3, 1)
                shape = list(self.reshape_shapes[str(out)])
                shape[0] = inp.shape[0]
                values[out] = inp.reshape(shape)
            elif kind == "CONCATENATION":
                parts = [get(i) for i in ins]
                axis = op["axis"]
                if parts[0].dim() == 4:
                    parts = [p.permute(0, 2, 3, 1) for p in parts]
                    y = torch.cat(parts, dim=axis).permute(0, 3, 1, 2)
                else:
                    y = torch.cat(parts, dim=axis)
                values[out] = _activation(y, op["activation"])
            else:
                raise ValueError(f"unsupported operator {kind}")
        return [values[i] for i in self.output_ids]

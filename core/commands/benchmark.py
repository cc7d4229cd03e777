"""``mtface benchmark``: median latency of each step at 1 and 2 threads.

Rows: the detector on a 640x480 image, stage 1, stage 2 alone (cascade minus stage 1), both
stages (``cascade``), visibility + pose + mapping back to the image (``post``), and the whole
``predict`` of a one-face image (detector, the cascade, the landmark re-crop and a second pass
where the face is turned (ADR 13), post).
Peak memory (max RSS) is printed at the end. The method reports 32 ms per image (on a GPU).
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import torch

METHOD_MS = 32.0
TARGETS_MS = {"detector": 5.0, "cascade": 5.0, "predict": 12.0}


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 5) -> float:
    """Median wall-clock milliseconds of ``fn`` over ``repeats`` calls after ``warmup``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def run_benchmark(
    repeats: int = 50,
    threads: list[int] | None = None,
    image_path: Path | None = None,
    weights: Path | None = None,
) -> int:
    """Time each step on ``image_path`` (default: the bundled sample) with the model file
    ``weights`` (default: the shipped model)."""
    from mtface.core.checkpoint import default_weights_path
    from mtface.core.detection.yunet import default_detector
    from mtface.core.imageio import ImageLoadError, load_image
    from mtface.core.model import CascadeConfig, CascadeMTCNN
    from mtface.core.predictor import Predictor
    from mtface.core.resources import resource_path
    from mtface.core.topology import Topology
    from mtface.core.weights import WeightsError

    if repeats < 1 or not all(n >= 1 for n in threads or [1]):
        print(
            f"error: --repeats ({repeats}) and --threads ({threads}) must be at least 1",
            file=sys.stderr,
        )
        return 2
    try:
        image = load_image(image_path or resource_path("samples", "astronaut.jpg"))
    except ImageLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    frame = cv2.resize(image, (640, 480))
    topology = Topology.load()
    detector = default_detector()
    if weights is not None or default_weights_path().exists():
        try:
            predictor = Predictor.from_weights(weights, detector=detector)
        except WeightsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        note = predictor.model_identity.label()
    else:
        predictor = Predictor(CascadeMTCNN(CascadeConfig(), topology), topology, detector=detector)
        note = "untrained weights (no shipped model found; timings are the same)"
    boxes = detector.detect(image)
    if not boxes:
        print("the benchmark image has no detectable face", file=sys.stderr)
        return 1
    tf = predictor.crop_from_box(boxes[0])
    crop = cv2.warpAffine(image, tf.affine(), (predictor.crop_size,) * 2)
    x = (torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255.0).contiguous(
        memory_format=torch.channels_last
    )
    model = predictor.model
    result = predictor.predict_crops(crop[None])

    def post() -> None:
        predictor.face_from_result(boxes[0], tf, result, 0)

    rows: dict[str, dict[int, float]] = {}
    for n in threads or [1, 2]:
        torch.set_num_threads(n)
        cv2.setNumThreads(n)
        with torch.inference_mode():
            s1 = median_ms(lambda: model(x, num_stages=1), repeats)
            both = median_ms(lambda: model(x), repeats)
        rows.setdefault("detector (640x480)", {})[n] = median_ms(
            lambda: detector.detect(frame), repeats
        )
        rows.setdefault("stage 1", {})[n] = s1
        rows.setdefault("stage 2 (MSIF + CNN)", {})[n] = max(both - s1, 0.0)
        rows.setdefault("cascade", {})[n] = both
        rows.setdefault("post (visibility, pose, to image)", {})[n] = median_ms(post, repeats)
        rows.setdefault("predict (one face, as `mtface predict`)", {})[n] = median_ms(
            lambda: predictor.predict(image), repeats
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    cols = threads or [1, 2]
    print(
        f"mtface benchmark: median ms over {repeats} runs; {note}; image "
        f"{image.shape[1]}x{image.shape[0]}; torch {torch.__version__}"
    )
    print(
        f"{'step':38s}"
        + "".join(f"{f'{n} thread' + ('s' if n > 1 else ''):>12s}" for n in cols)
        + f"{'target':>10s}"
    )
    for name, values in rows.items():
        key = name.split(" ")[0]
        target = TARGETS_MS.get(key)
        print(
            f"{name:38s}"
            + "".join(f"{values[n]:12.2f}" for n in cols)
            + (f"{target:10.1f}" if target else f"{'':10s}")
        )
    print(f"{'the method (per image, reported)':38s}" + f"{METHOD_MS:12.2f}")
    print(f"peak memory (max RSS): {peak_mb:.0f} MB")
    return 0

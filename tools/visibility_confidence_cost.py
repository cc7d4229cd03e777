"""What the reported visibility (core/visibility.py) and the confidence's mirror pass
(core/confidence.py) add to a still image, timed in one process on one thread.

On the 640x480 one-face frame of tools/predict_vs_mediapipe.py it times, alternately in
rounds (so that a busy machine slows all alike): the whole ``predict``; ``predict`` with the
confidence pass left out (a stand-in that returns the evidence without running the mirror
crop); the reported visibility of the face alone (depth test, and the jaw's silhouette when a
jaw point is behind the cheek); and the confidence evidence alone. Prints medians (ms) and the
share the two add to ``predict``. MediaPipe is not needed.

Usage: OMP_NUM_THREADS=1 python tools/visibility_confidence_cost.py [--repeats 30] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict_vs_mediapipe import frame_640x480

from mtface.core.commands.benchmark import median_ms


def main() -> int:
    import torch

    from mtface.core.confidence import ConfidenceEvidence
    from mtface.core.landmarks2d import CONTOUR_POINTS
    from mtface.core.predictor import Predictor
    from mtface.core.visibility import reported_visibility

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    image = frame_640x480()
    predictor = Predictor.from_weights()
    (face,) = predictor.predict(image).faces
    tf = predictor.crop_from_landmarks(face.stages[-1].landmarks[:, :2])
    result = predictor.run_on_transforms(image, [tf])
    full_evidence = predictor.confidence_evidence

    def no_mirror(_image, first, _final, _result, *_rest):  # the evidence without the extra crop
        return [ConfidenceEvidence(0.0, 0.0, 0.0, 0.0)] * len(first)

    rows: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        predictor.confidence_evidence = full_evidence  # type: ignore[method-assign]
        rows.setdefault("predict (all)", []).append(
            median_ms(lambda: predictor.predict(image), args.repeats)
        )
        predictor.confidence_evidence = no_mirror  # type: ignore[method-assign]
        rows.setdefault("predict without the confidence pass", []).append(
            median_ms(lambda: predictor.predict(image), args.repeats)
        )
        predictor.confidence_evidence = full_evidence  # type: ignore[method-assign]
        rows.setdefault("reported visibility of one face", []).append(
            median_ms(
                lambda: reported_visibility(
                    face.landmarks,
                    face.vertices,
                    predictor.topology.triangles,
                    CONTOUR_POINTS,
                    False,
                ),
                args.repeats * 10,
            )
        )
        rows.setdefault("confidence evidence of one face (mirror crop)", []).append(
            median_ms(lambda: full_evidence(image, [tf], [tf], result), args.repeats)
        )
    medians = {name: statistics.median(values) for name, values in rows.items()}
    for name, value in medians.items():
        spread = np.ptp(rows[name])
        print(f"{name:48s} {value:8.2f} ms  (rounds spread {spread:.2f})")
    base = medians["predict without the confidence pass"]
    print(
        f"confidence pass adds {medians['predict (all)'] - base:.2f} ms "
        f"({100 * (medians['predict (all)'] / base - 1):.0f} % of predict without it); "
        f"visibility {medians['reported visibility of one face']:.2f} ms per face"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

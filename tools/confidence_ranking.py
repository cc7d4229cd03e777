"""Does the review queue's confidence rank faces by their real error?

On the human-labelled 300W faces (../shared/data/w300: afw + helen_train, .jpg + 1-based .pts),
predict every face with the shipped model, compute the inter-ocular NME against the human
labels (outer eye corners, points 37 and 46) and the confidences of core/confidence.py (the
predictor's Face.confidence, which predict, annotate and the studio report, and the stage-1 /
stage-2 disagreement alone), and print the Spearman
rank correlation between them. A good
confidence correlates NEGATIVELY with the error (the disagreement positively).

Boxes: ``--boxes gt`` (default) gives the predictor the tight box of the ground-truth landmarks
(as a 'landmarks' box where the predictor takes box kinds); ``--boxes detector`` runs the
predictor's face detector and keeps the
detection nearest the labelled face (faces it misses are counted and left out).
Usage: OMP_NUM_THREADS=1 python tools/confidence_ranking.py [--data DIR] [--boxes gt|detector]
       [--limit N]
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


@dataclass
class RankingResult:
    faces: int
    missed: int
    spearman_confidence_nme: float
    spearman_stage_confidence_nme: float
    median_nme: float
    worst_decile_nme: float
    best_decile_nme: float


def run(data: Path, boxes: str, limit: int | None) -> RankingResult:
    from mtface.core.confidence import (
        HALF_CONFIDENCE_STAGES,
        confidence_from_disagreement,
        spearman,
        stage_disagreement,
    )
    from mtface.core.formats.pts import read_pts
    from mtface.core.imageio import load_image
    from mtface.core.predictor import Predictor
    from mtface.core.types import FaceBox

    predictor = Predictor.from_weights()

    def predict(image: np.ndarray, box_list: list, kind: str) -> object:
        """Tight ground-truth boxes are given as such where the predictor knows box kinds."""
        if "box_kind" in inspect.signature(predictor.predict).parameters:
            return predictor.predict(image, box_list, box_kind=kind)
        return predictor.predict(image, box_list)

    paths = sorted(data.rglob("*.jpg"))[:limit]
    nmes, confs, stage_confs = [], [], []
    missed = 0
    t0 = time.perf_counter()
    for k, path in enumerate(paths):
        gt = read_pts(path.with_suffix(".pts"))
        image = load_image(path)
        x0, y0 = gt.min(0)
        x1, y1 = gt.max(0)
        box = FaceBox(float(x0), float(y0), float(x1), float(y1), 1.0)
        if boxes == "detector":
            found = predictor.detector.detect(image)  # type: ignore[attr-defined]
            centre = gt.mean(0)
            inside = [b for b in found if b.x0 <= centre[0] <= b.x1 and b.y0 <= centre[1] <= b.y1]
            if not inside:
                missed += 1
                continue
            box = min(
                inside,
                key=lambda b: np.hypot(
                    (b.x0 + b.x1) / 2 - centre[0], (b.y0 + b.y1) / 2 - centre[1]
                ),
            )
        face = predict(image, [box], "landmarks" if boxes == "gt" else "detector").faces[0]
        lm = face.landmarks[:, :2].astype(np.float64)
        iod = float(np.linalg.norm(gt[36] - gt[45]))
        nmes.append(float(np.linalg.norm(lm - gt, axis=1).mean() / iod))
        confs.append(face.confidence)  # the predictor's: what predict, annotate, studio report
        stage_confs.append(
            confidence_from_disagreement(stage_disagreement(face), HALF_CONFIDENCE_STAGES)
        )
        if (k + 1) % 200 == 0:
            print(
                f"  {k + 1}/{len(paths)} faces, {time.perf_counter() - t0:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    nme, conf, stage = map(np.asarray, (nmes, confs, stage_confs))
    order = np.argsort(conf)  # least confident first
    decile = max(len(order) // 10, 1)
    return RankingResult(
        faces=len(nme),
        missed=missed,
        spearman_confidence_nme=spearman(conf, nme),
        spearman_stage_confidence_nme=spearman(stage, nme),
        median_nme=float(np.median(nme)),
        worst_decile_nme=float(nme[order[:decile]].mean()),
        best_decile_nme=float(nme[order[-decile:]].mean()),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "w300")
    parser.add_argument("--boxes", choices=("gt", "detector"), default="gt")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"error: {args.data} not found", file=sys.stderr)
        return 2
    r = run(args.data, args.boxes, args.limit)
    from mtface.core.checkpoint import default_weights_path
    from mtface.core.weights import sha256_of

    weights = default_weights_path()
    print(f"weights {weights.name} sha256 {sha256_of(weights)[:16]}")
    print(f"faces {r.faces} (boxes: {args.boxes}; detector missed {r.missed})")
    print(f"inter-ocular NME: median {r.median_nme * 100:.2f}%")
    print(
        f"Spearman(confidence, NME) = {r.spearman_confidence_nme:+.3f} (Face.confidence, "
        f"what everything reports); stage-1/stage-2 alone {r.spearman_stage_confidence_nme:+.3f}; "
        "negative = low confidence goes with high error"
    )
    print(
        f"mean NME of the 10% least confident faces {r.worst_decile_nme * 100:.2f}%, "
        f"of the 10% most confident {r.best_decile_nme * 100:.2f}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

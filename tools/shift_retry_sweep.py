"""Choose the moved first crops of low-confidence faces (ADR 37) on training-side data only.

On large-pose views of the HELD-OUT w300 photos (as ``tools/turned_views_val.py`` draws them:
exact landmarks, background), every face the predictor without moved crops
(``shift_steps=()``) finds with a confidence below ``LOW_CONFIDENCE`` is predicted again from
its first crop moved along the crop's x axis by each step, either way
(``core/crop_search.py``); each candidate's box NME, confidence and yaw are recorded once, then
every policy (steps, margin, whether the try must see the face at least as turned, and turned
the same way, how far its landmarks may move) is played
on the records: the candidate with the highest confidence replaces the face when it beats the
face's confidence by more than the margin and lies on the same person. Printed per |yaw| bin:
mean box NME (%), faces above 20 %.

    OMP_NUM_THREADS=1 python tools/shift_retry_sweep.py --labels data_cache/w300_labels
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass

import numpy as np

STEPS = (0.1, 0.2, 0.3)


@dataclass
class Record:
    yaw: float  # |yaw| of the truth, degrees
    nme: float  # the unmoved predictor's face, box NME %, nan when missed
    confidence: float
    predicted_yaw: float  # the face's, degrees
    # per direction (+1: +x of the crop, -1: -x) and step: (nme %, confidence, on the person,
    # predicted yaw, how far its landmarks' centre lies from the face's in box sides)
    candidates: dict[tuple[int, float], tuple[float, float, bool, float, float]]


def record(predictor, image: np.ndarray, truth: np.ndarray, yaw: float) -> Record:
    from mtface.core.confidence import LOW_CONFIDENCE
    from mtface.core.crop_search import shifted_crops
    from mtface.core.detection.choice import same_person
    from mtface.core.evaluation import nme_box
    from mtface.core.geometry import box_of_points
    from mtface.core.types import FaceBox

    def nme(face) -> float:
        return float(nme_box(face.landmarks_2d[None], truth[None])[0])

    centre = truth.mean(0)
    x0, y0 = truth.min(0)
    x1, y1 = truth.max(0)
    on = [
        f
        for f in predictor.predict(image).faces
        if x0 <= f.landmarks_2d[:, 0].mean() <= x1 and y0 <= f.landmarks_2d[:, 1].mean() <= y1
    ]
    if not on:
        return Record(yaw, np.nan, np.nan, np.nan, {})
    face = min(on, key=lambda f: float(np.linalg.norm(f.landmarks_2d.mean(0) - centre)))
    rec = Record(yaw, nme(face), float(face.confidence), face.pose.yaw, {})
    if face.confidence >= LOW_CONFIDENCE or face.box.score <= 0:
        return rec
    first = predictor.crop_from_box(face.box)
    tries = []
    for direction in (1, -1):
        crops = shifted_crops(first, direction, STEPS)
        tries += [((direction, step), tf) for step, tf in zip(STEPS, crops)]
    if not tries:
        return rec
    found = predictor.faces_from_crops(
        image, [face.box] * len(tries), [tf for _, tf in tries], True
    )
    for (key, _), cand in zip(tries, found):
        on_box = same_person(FaceBox(*box_of_points(cand.landmarks_2d)), face.box)
        moved = np.linalg.norm(cand.landmarks_2d.mean(0) - face.landmarks_2d.mean(0))
        side = max(face.box.width, face.box.height)
        rec.candidates[key] = (
            nme(cand),
            float(cand.confidence),
            on_box,
            cand.pose.yaw,
            float(moved / side),
        )
    return rec


def play(
    records: list[Record],
    steps: tuple[float, ...],
    wider: str,
    margin: float,
    reach: float = np.inf,
    flip_margin: float = 0.0,
) -> np.ndarray:
    """Each record's NME under a policy (``wider``: 'any' try, or only tries that see the face
    at least as turned ('wider'), and turned the same way ('same-side'); ``reach``: only tries
    whose landmarks' centre moved at most this many box sides; ``flip_margin``: a try that
    reads a face the first fit saw clearly turned (|yaw| > 30) turned the other way must beat
    it by this much more than ``margin``)."""
    out = []
    for r in records:
        best_nme = r.nme
        keys = [(d, s) for d in (1, -1) for s in steps]
        cands = [
            r.candidates[k]
            for k in keys
            if k in r.candidates
            and r.candidates[k][2]
            and (wider == "any" or abs(r.candidates[k][3]) >= abs(r.predicted_yaw))
            and (wider != "same-side" or r.candidates[k][3] * r.predicted_yaw >= 0)
            and r.candidates[k][4] <= reach
        ]
        if cands:
            nme, conf, _, yaw = max(cands, key=lambda c: c[1])[:4]
            flipped = abs(r.predicted_yaw) > 30 and yaw * r.predicted_yaw < 0
            if conf > r.confidence + margin + (flip_margin if flipped else 0.0):
                best_nme = nme
        out.append(best_nme)
    return np.array(out)


def main() -> None:
    from mtface.core.data.synthesis import add_view_arguments, views_from_arguments
    from mtface.core.predictor import Predictor

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_view_arguments(parser)
    args = parser.parse_args()
    predictor = Predictor.from_weights(shift_steps=())
    topology = predictor.topology
    views = views_from_arguments(args, topology)
    records = [record(predictor, v.image, v.landmarks, abs(float(v.pose[1]))) for v in views]
    yaws = np.array([r.yaw for r in records])
    low = sum(bool(r.candidates) for r in records)
    print(f"{len(records)} views of held-out w300 photos; {low} faces retried")
    bins = ((0, 30), (30, 60), (60, 90))
    print(f"{'policy':40s}" + "".join(f"{f'({lo},{hi}]':>16s}" for lo, hi in bins))
    policies = [("unmoved", (), "any", 0.0, np.inf)] + [
        (f"steps {s} {b} m {m}", s, b, m, np.inf)
        for s, b, m in itertools.product(
            ((0.1,), (0.1, 0.2), (0.1, 0.2, 0.3)),
            ("any", "wider", "same-side"),
            (0.0, 0.03, 0.05, 0.1),
        )
    ]
    policies += [
        (f"steps (0.1, 0.2) wider m 0.0 reach {r}", (0.1, 0.2), "wider", 0.0, r)
        for r in (0.5, 0.35, 0.25, 0.15)
    ]
    policies += [
        (f"steps (0.1, 0.2) wider m 0.0 flip m {f}", (0.1, 0.2), "wider", 0.0, np.inf, f)
        for f in (0.005, 0.01, 0.02, 0.05, 0.1)
    ]
    for name, steps, wider, margin, reach, *flip in policies:
        nme = play(records, steps, wider, margin, reach, *flip)
        cells = []
        for lo, hi in bins:
            m = (yaws > lo) & (yaws <= hi) & np.isfinite(nme)
            cells.append(f"{nme[m].mean():8.2f} {int((nme[m] > 20).sum()):3d}/{int(m.sum()):3d}")
        print(f"{name:40s}" + "".join(f"{c:>16s}" for c in cells), flush=True)


if __name__ == "__main__":
    main()

"""Choose which faces of the equalised second search to keep (ADR 37), on training-side data.

Two kinds of pictures are made from the w300 TRAINING photos (``train.txt`` of ``mtface data
import-annotations``):

- faceless: the face painted out (the box of its 68 human landmarks, enlarged ``--enlarge``
  times, filled with the photo's median colour); what is left (hair, shoulders, background)
  should give no face;
- faint: the whole photo with its contrast cut to a fraction in [0.03, 0.12] about a grey
  level in [40, 200] (a misty, grey or dark photo); its face should be found.

Each goes through the detector path without the equalised search (``equalise_when_empty``
off); where that finds no face, the equalised search's faces are recorded (detector score,
confidence, and for faint pictures whether the face lies on the person and its box NME).
Printed for each rule (confidence at least c): faceless pictures given a face, faint pictures
whose face is kept on the person, and that face's median NME.

    OMP_NUM_THREADS=1 python tools/equalised_search_check.py --labels data_cache/w300_labels
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

RULES = (0.0, 0.2, 0.25, 0.3, 0.35)


def main() -> None:
    from mtface.core.data.labels import load_human_labels
    from mtface.core.evaluation import nme_box
    from mtface.core.geometry import box_of_points
    from mtface.core.imageio import load_image
    from mtface.core.predictor import Predictor

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, default=Path("data_cache/w300_labels"))
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--enlarge", type=float, default=1.8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    labels, held_out = load_human_labels(args.labels)
    photos = np.flatnonzero(~held_out)[: args.count]
    rng = np.random.default_rng(args.seed)
    plain = Predictor.from_weights(equalise_when_empty=False)
    equalised = Predictor.from_weights(equalise_when_empty=True)
    faceless: list[list[float]] = []  # per picture: confidences of the faces found equalised
    faint: list[tuple[bool, float, float]] = []  # (plain found it, confidence, NME %) on person
    for i in photos:
        image = load_image(labels.images_root / str(labels.paths[i]))
        truth = labels.human_landmarks[i]
        x0, y0, x1, y1 = box_of_points(truth)
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        half = args.enlarge * max(x1 - x0, y1 - y0) / 2.0
        h, w = image.shape[:2]
        empty = image.copy()
        empty[
            max(0, int(cy - half)) : min(h, int(cy + half)), max(0, int(cx - half)) : int(cx + half)
        ] = np.median(image.reshape(-1, 3), axis=0).astype(np.uint8)
        if plain.predict(empty).faces:
            faceless.append([np.inf])  # found without the equalised search: not its doing
        else:
            faceless.append([f.confidence or 0.0 for f in equalised.predict(empty).faces])
        contrast, level = rng.uniform(0.03, 0.12), rng.uniform(40.0, 200.0)
        dim = np.clip(level + (image.astype(np.float64) - 128.0) * contrast, 0, 255).astype(
            np.uint8
        )
        found_plain = bool(plain.predict(dim).faces)
        faces = [] if found_plain else equalised.predict(dim).faces
        on = [
            f
            for f in faces
            if x0 <= f.landmarks_2d[:, 0].mean() <= x1 and y0 <= f.landmarks_2d[:, 1].mean() <= y1
        ]
        if on:
            nme = float(nme_box(on[0].landmarks_2d[None], truth[None])[0])
            faint.append((found_plain, on[0].confidence or 0.0, nme))
        else:
            faint.append((found_plain, np.nan, np.nan))
    n = len(photos)
    by_plain = sum(p for p, _, _ in faint)
    print(
        f"{n} w300 training photos; faint pictures found without the equalised search: {by_plain}"
    )
    print(f"faceless pictures with a face without it: {sum(np.inf in c for c in faceless)}")
    print(
        f"{'keep when confidence >=':24s}{'faceless given a face':>24s}{'faint found':>14s}"
        f"{'median NME %':>14s}"
    )
    for rule in RULES:
        false = sum(any(np.isfinite(c) and c >= rule for c in cs) for cs in faceless)
        kept = [nme for p, c, nme in faint if not p and np.isfinite(c) and c >= rule]
        median = float(np.median(kept)) if kept else float("nan")
        print(f"{rule:<24.2f}{false:>24d}{len(kept):>14d}{median:>14.2f}")


if __name__ == "__main__":
    main()

"""Where the finer search of settled, low-confidence detections (ADR 39) changes a face, on
training-side photos with human labels.

Every photo of a label folder's split (``--split train`` or ``val`` of ``mtface data
import-annotations``) goes through the detector path with ``search_finer`` off and on ('2d'
landmarks, the labels' definition); printed: the photos whose face on the labelled person
changed, with the inter-ocular NME (%) before and after, and the photos whose person was found
only by one of the two.

    OMP_NUM_THREADS=1 python tools/finer_search_check.py --split train
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

#: A face counts as changed when its NME moved by at least this (percent).
CHANGE = 0.05


def main() -> None:
    from mtface.core.commands.evaluate import face_on_person
    from mtface.core.data.labels import load_human_labels
    from mtface.core.evaluation import nme_interocular
    from mtface.core.imageio import load_image
    from mtface.core.predictor import Predictor

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, default=Path("data_cache/w300_labels"))
    parser.add_argument("--split", choices=("train", "val"), default="train")
    args = parser.parse_args()
    labels, held_out = load_human_labels(args.labels)
    photos = np.flatnonzero(held_out if args.split == "val" else ~held_out)
    coarse = Predictor.from_weights(landmarks="2d", search_finer=False)
    finer = Predictor.from_weights(landmarks="2d")
    changed, found_only = [], []
    for i in photos:
        image = load_image(labels.images_root / str(labels.paths[i]))
        truth = labels.human_landmarks[i]
        before = face_on_person(coarse.predict(image).faces, truth)
        after = face_on_person(finer.predict(image).faces, truth)
        if (before is None) != (after is None):
            found_only.append((str(labels.paths[i]), "finer" if after is not None else "coarse"))
        elif before is not None and after is not None:
            e0, e1 = (
                float(nme_interocular(f.landmarks_2d[None], truth[None])[0])
                for f in (before, after)
            )
            if abs(e1 - e0) >= CHANGE:  # not float noise of two batches
                changed.append((str(labels.paths[i]), e0, e1))
    print(f"{len(photos)} {args.split} photos of {args.labels}")
    print(f"faces changed by the finer search: {len(changed)}")
    for name, e0, e1 in changed:
        print(f"  {name}: {e0:.2f} -> {e1:.2f} %")
    print(f"person found by one only: {found_only}")


if __name__ == "__main__":
    main()

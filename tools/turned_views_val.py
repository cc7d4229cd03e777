"""The detector path on large-pose views of HELD-OUT w300 photos (training-side data), for
choosing how the predictor treats turned faces (ADR 32) without touching the validation sets.

Each photo of the label folder's held-out split (``val.txt`` of ``mtface data
import-annotations``) gives ``--views`` views by the data engine's face profiling (as
``mtface data synthesize`` draws them: target |yaw| in (30,60] and (60,90] alternately, with
background), whose 68 landmarks are exact. For every variant of ``--variants`` the predictor's
whole detector path runs on every view; per |yaw| bin of the views it prints the mean and median
box NME (%) of the face on the person, the faces above 20 %, the misses and the median time.

    OMP_NUM_THREADS=1 python tools/turned_views_val.py --labels data_cache/w300_labels \\
        --variants blind,default

``default``: the predictor as shipped; ``blind``: no choice by the confidence (the second
opinion is taken only for a face turned the other way, as before ADR 32); ``plain-crop``: turned
faces' first crop from the plain box geometry instead of ADR 31's calibration;
``axis-aligned``: no crop turned with the face (before ADR 35); ``any-rotation``: with the
turned retries of low-confidence faces (``mtface predict --any-rotation``); ``unmoved``: no
moved first crops of low-confidence faces (before ADR 37); ``coarse``: no finer search for
settled detections the cascade trusts little (before ADR 39); ``enlarge-beside``: the search
enlarged twice beside a face already found too, instead of 1.5 times (before ADR 41).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    from mtface.core.crop_search import RETRY_TURNS, SHIFT_STEPS
    from mtface.core.data.synthesis import add_view_arguments, views_from_arguments
    from mtface.core.detection.yunet import default_detector
    from mtface.core.evaluation import nme_box
    from mtface.core.face_roll import ROLL_LIMIT_DEG
    from mtface.core.predictor import Predictor

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_view_arguments(parser)
    parser.add_argument("--variants", default="blind,default")
    args = parser.parse_args()
    names = args.variants.split(",")
    known = {
        "blind",
        "default",
        "plain-crop",
        "axis-aligned",
        "any-rotation",
        "unmoved",
        "coarse",
        "enlarge-beside",
    }
    if set(names) - known:
        raise SystemExit(f"--variants: a comma-separated list of {', '.join(sorted(known))}")
    predictor = Predictor.from_weights()
    topology = predictor.topology
    found = views_from_arguments(args, topology)
    views = [(v.image, v.landmarks, abs(float(v.pose[1]))) for v in found]
    yaws = np.array([y for _, _, y in views])
    print(f"{len(views)} views of {len(views) // args.views} held-out photos of {args.labels}")
    print(
        f"{'variant':9s}{'bin':10s}{'n':>5s}{'mean':>7s}{'median':>8s}{'>20%':>6s}{'miss':>6s}"
        f"{'ms':>7s}"
    )
    import mtface.core.crop_search as search_module

    chooses = search_module.better_fit
    shipped = predictor.detector
    plain = default_detector()
    for detector in plain.detectors:  # type: ignore[attr-defined]
        if hasattr(detector, "turned_calibration"):
            detector.turned_calibration = None
    for name in names:
        search_module.better_fit = (lambda *a: False) if name == "blind" else chooses
        predictor._detector = plain if name == "plain-crop" else shipped  # noqa: SLF001
        predictor.roll_limit_deg = float("inf") if name == "axis-aligned" else ROLL_LIMIT_DEG
        predictor.retry_turns = RETRY_TURNS if name == "any-rotation" else ()
        predictor.shift_steps = () if name == "unmoved" else SHIFT_STEPS
        predictor.search_finer = name != "coarse"
        enlarged, beside = shipped.detectors[1:3]  # type: ignore[attr-defined]
        before = name == "enlarge-beside"  # the x2 search whether or not YuNet found a face
        # before: x1.5 in both lists (never asked), x2 in neither (always asked)
        shipped.only_when_none_found = [beside] if before else [enlarged]  # type: ignore[attr-defined]
        shipped.only_when_some_found = [beside]  # type: ignore[attr-defined]
        nme, seconds = [], []
        for image, truth, _ in views:
            t0 = time.perf_counter()
            faces = predictor.predict(image).faces
            seconds.append(time.perf_counter() - t0)
            centre = truth.mean(0)
            x0, y0 = truth.min(0)
            x1, y1 = truth.max(0)
            on = [
                f
                for f in faces
                if x0 <= f.landmarks_2d[:, 0].mean() <= x1
                and y0 <= f.landmarks_2d[:, 1].mean() <= y1
            ]
            if not on:
                nme.append(np.nan)
                continue
            face = min(on, key=lambda f: float(np.linalg.norm(f.landmarks_2d.mean(0) - centre)))
            nme.append(float(nme_box(face.landmarks_2d[None], truth[None])[0]))
        nme_a, secs = np.array(nme), np.array(seconds)
        for lo, hi in ((30, 60), (60, 90)):
            m = (yaws > lo) & (yaws <= hi)
            ok = m & np.isfinite(nme_a)
            print(
                f"{name:9s}{f'({lo},{hi}]':10s}{int(m.sum()):5d}{nme_a[ok].mean():7.2f}"
                f"{np.median(nme_a[ok]):8.2f}{int((nme_a[ok] > 20).sum()):6d}"
                f"{int((m & ~np.isfinite(nme_a)).sum()):6d}{np.median(secs[m]) * 1e3:7.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

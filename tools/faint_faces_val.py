"""Faint faces beside settled ones (ADR 32 addendum) on TRAINING photos: a profile beside a
confidently found frontal face, and the faces added on plain photos.

Composites: the working crop (320 px, 2.2x the face) of a near-frontal (|yaw| < 15) w300
training photo beside a large-pose view (the data engine's face profiling, target |yaw| in
(30,60] and (60,90] alternately, with background) of another training photo, whose 68 landmarks
are exact. Plain: every k-th w300 training photo as it is. Both chains run the whole detector
path: ``before`` without the faint faces (``YuNetDetector.faint_min_score`` 0.5), ``after`` as
shipped but with the confidence gate open (``FAINT_MIN_CONFIDENCE`` 0), so that each gate
threshold of ``--gates`` is read off the faint faces' confidences. Printed per view bin: the
profiles found on the person (a face whose 68 points' centre lies in the truth's box), those
above 20 % box NME, and the faint faces kept off the profile; for the plain photos the faces
added per photo, and the median predict time of both chains (timed alternately).

    OMP_NUM_THREADS=1 python tools/faint_faces_val.py --labels data_cache/w300_labels \\
        --composites 240 --plain 250
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def on_truth(face: object, truth: np.ndarray) -> bool:
    """The centre of the face's 68 points lies in the truth's (68, 2) box."""
    c = face.landmarks_2d.mean(0)  # type: ignore[attr-defined]
    (x0, y0), (x1, y1) = truth.min(0), truth.max(0)
    return bool(x0 <= c[0] <= x1 and y0 <= c[1] <= y1)


def main() -> None:
    import mtface.core.detection.chain as chain_module
    from mtface.core.data.labels import load_human_labels
    from mtface.core.data.profiling import profile_face, working_crop
    from mtface.core.data.synthesis import sample_delta
    from mtface.core.detection.chain import FAINT_BOX_SCORE
    from mtface.core.detection.yunet import default_detector
    from mtface.core.evaluation import nme_box
    from mtface.core.imageio import load_image
    from mtface.core.predictor import Predictor

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, default=Path("data_cache/w300_labels"))
    parser.add_argument("--composites", type=int, default=240)
    parser.add_argument("--plain", type=int, default=250)
    parser.add_argument("--gates", default="0,0.3,0.35,0.4,0.5")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    gates = [float(g) for g in args.gates.split(",")]
    labels, held_out = load_human_labels(args.labels)
    train = np.flatnonzero(~held_out)
    predictor = Predictor.from_weights()
    after = predictor.detector
    before = default_detector()
    before.detectors[0].faint_min_score = 0.5  # type: ignore[attr-defined]
    chain_module.FAINT_MIN_CONFIDENCE = 0.0
    topology = predictor.topology
    rng = np.random.default_rng(args.seed)
    frontal = [i for i in train if abs(float(labels.pose[i][1])) < 15]

    def run(image: np.ndarray) -> dict[str, tuple[list, float]]:
        out = {}
        for name, detector in (("before", before), ("after", after)):
            predictor._detector = detector  # noqa: SLF001
            t0 = time.perf_counter()
            faces = predictor.predict(image).faces
            out[name] = (faces, (time.perf_counter() - t0) * 1e3)
        return out

    comp = []  # (view |yaw|, profile NME before or nan, [(conf, on, NME) of faint faces])
    for k in range(args.composites):
        a, b = int(rng.choice(frontal)), int(rng.choice(train))
        crop_a, _ = working_crop(
            load_image(labels.images_root / str(labels.paths[a])),
            labels.vertices[a].astype(np.float64),
            320,
            2.2,
        )
        crop_b, verts = working_crop(
            load_image(labels.images_root / str(labels.paths[b])),
            labels.vertices[b].astype(np.float64),
            320,
            2.2,
        )
        base = tuple(float(x) for x in labels.pose[b])
        view = profile_face(crop_b, verts, base, sample_delta(base[1], rng, 1 + k % 2), topology)
        truth = topology.landmarks_from_vertices(view.vertices.astype(np.float64))[:, :2]
        truth = truth + np.array([crop_a.shape[1], 0.0])
        faces = run(np.concatenate([crop_a, view.image], 1))
        on_before = [f for f in faces["before"][0] if on_truth(f, truth)]
        nme_before = (
            float(nme_box(on_before[0].landmarks_2d[None], truth[None])[0]) if on_before else np.nan
        )
        faint = [
            (
                f.confidence or 0.0,
                on_truth(f, truth),
                float(nme_box(f.landmarks_2d[None], truth[None])[0]),
            )
            for f in faces["after"][0]
            if f.box.score < FAINT_BOX_SCORE
        ]
        comp.append((abs(float(view.pose[1])), nme_before, faint))
    yaws = np.array([c[0] for c in comp])
    print(f"{len(comp)} composites of w300 training photos ({args.labels})")
    for gate in gates:
        for lo, hi in ((30, 60), (60, 90)):
            rows = [c for c, y in zip(comp, yaws) if lo < y <= hi]
            found_before = sum(np.isfinite(c[1]) for c in rows)
            added = [
                min((e[2] for e in c[2] if e[1] and e[0] >= gate), default=np.nan)
                for c in rows
                if not np.isfinite(c[1])
            ]
            added_ok = [x for x in added if np.isfinite(x)]
            print(
                f"gate {gate:4.2f} ({lo},{hi}]: n {len(rows)}, profile found before "
                f"{found_before}, after {found_before + len(added_ok)} (added ones > 20 %: "
                f"{sum(x > 20 for x in added_ok)})"
            )
        off = sum(1 for c in comp for e in c[2] if not e[1] and e[0] >= gate)
        print(f"gate {gate:4.2f} faint faces kept off the profile: {off} in {len(comp)} composites")

    plain = train[:: max(1, len(train) // max(1, args.plain))][: args.plain]
    counts, confs, ms = [], [], {"before": [], "after": []}
    for i in plain:
        faces = run(load_image(labels.images_root / str(labels.paths[i])))
        counts.append(len(faces["before"][0]))
        confs.append([f.confidence or 0.0 for f in faces["after"][0] if f.box.score < 0.5])
        for name in ms:
            ms[name].append(faces[name][1])
    print(f"{len(plain)} plain w300 training photos: {sum(counts)} faces before")
    for gate in gates:
        extra = sum(sum(c >= gate for c in cs) for cs in confs)
        print(f"gate {gate:4.2f}: faint faces added {extra} ({extra / len(plain):.3f} per photo)")
    print(
        f"predict median ms before {np.median(ms['before']):.2f}, after "
        f"{np.median(ms['after']):.2f}; photos with a faint face: {sum(bool(c) for c in confs)}"
    )


if __name__ == "__main__":
    main()

"""Collect training-side evidence for the reported visibility and the confidence (ADR 28, 29).

Only TRAINING-side data: the w300 training photos (``train.txt`` of a human label folder made by
``mtface data import-annotations``, their fitted meshes and poses) and synthetic large-pose views
of those photos (core/data/profiling.py) whose labels are exact: the rotated mesh, hence its 68
landmarks and their z-buffer visibility. Validation sets (aflw2000_3d_val, aflw_val) are never
read here.

For every face the predictor's detector path runs on the photo or view (``mtface predict``'s
path); the face on the labelled person is kept and the script saves, per face: the labels'
yaw, the predicted yaw, box NME (%) of the 68 points, the confidence evidence
(core/confidence.py; plus, for comparison, the mirror through the whole cascade) and, per
point, the occlusion depth and silhouette inset of the reported
3d landmarks (core/visibility.py) and the exact visibility label (synthetic views only).

Usage: OMP_NUM_THREADS=1 python tools/calibrate_visibility.py --labels data_cache/w300_labels \
    --faces 400 --out /tmp/vis_train.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def main() -> None:
    from mtface.core.confidence import face_size, landmark_disagreement, unmirror
    from mtface.core.data.labels import load_human_labels
    from mtface.core.data.profiling import profile_face, working_crop
    from mtface.core.data.synthesis import sample_delta
    from mtface.core.evaluation import nme_box
    from mtface.core.imageio import load_image
    from mtface.core.predictor import Predictor
    from mtface.core.visibility import occlusion_depth, silhouette_inset

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=Path, default=Path("data_cache/w300_labels"))
    parser.add_argument("--faces", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    labels, held_out = load_human_labels(args.labels)
    train = np.flatnonzero(~held_out)
    rng = np.random.default_rng(args.seed)
    picks = rng.choice(train, size=min(args.faces, len(train)), replace=False)
    predictor = Predictor.from_weights()
    tri = predictor.topology.triangles
    captured: list = []
    original = predictor.confidence_evidence

    def capture(image: np.ndarray, first: list, final: list, result: object, *rest) -> list:
        """The predictor's evidence, and for comparison the mirror through the whole cascade
        (last stage against last stage)."""
        out = original(image, first, final, result, *rest)
        size = predictor.crop_size
        crops = [cv2.warpAffine(image, tf.affine(), (size, size))[:, ::-1] for tf in final]
        full = predictor.predict_crops(np.stack(crops))
        perm = predictor.topology.landmark_flip_permutation
        extra = []
        for i in range(len(final)):
            last = result.keypoints[i, -1, :, :2]  # type: ignore[attr-defined]
            back = unmirror(full.keypoints[i, -1, :, :2], predictor.crop_size, perm)
            extra.append(landmark_disagreement(last, back, face_size(last)))
        captured.append(list(zip(out, extra)))
        return out

    predictor.confidence_evidence = capture  # type: ignore[method-assign]
    rows: dict[str, list] = {
        k: []
        for k in (
            "kind",
            "yaw_true",
            "yaw_pred",
            "nme",
            "evidence",
            "depth",
            "inset",
            "label",
            "free",
        )
    }

    def free_evidence(face: object) -> list[float]:
        """Signals that cost no extra pass: keypoint head vs the dense head's landmarks (last
        and first stage) and the pose change between the stages."""
        out = []
        for stage in (face.stages[-1], face.stages[0]):  # type: ignore[attr-defined]
            mesh68 = predictor.topology.landmarks_from_vertices(stage.vertices.astype(float))
            size = face_size(stage.landmarks)
            out.append(landmark_disagreement(stage.landmarks, mesh68, size))
        first, last = face.stages[0].pose, face.stages[-1].pose  # type: ignore[attr-defined]
        out += [abs(last.yaw - first.yaw), abs(last.pitch - first.pitch)]
        return out

    def record(
        kind: int, image: np.ndarray, truth68: np.ndarray, yaw_true: float, label: np.ndarray | None
    ) -> None:
        captured.clear()
        faces = predictor.predict(image).faces
        if not faces:
            return
        centre = truth68[:, :2].mean(0)
        k = int(np.argmin([np.linalg.norm(f.landmarks_2d.mean(0) - centre) for f in faces]))
        face = faces[k]
        # the evidence of the kept face: the last predict call that returned this many faces
        evidence = next(e for e in reversed(captured) if len(e) == len(faces) or len(e) == 1)
        ev, full_mirror = evidence[k] if len(evidence) == len(faces) else evidence[0]
        rows["kind"].append(kind)
        rows["yaw_true"].append(yaw_true)
        rows["yaw_pred"].append(face.pose.yaw)
        rows["nme"].append(float(nme_box(face.landmarks_2d[None], truth68[None, :, :2])[0]))
        rows["evidence"].append([ev.mirror, ev.stages, ev.mirror_yaw, ev.box, full_mirror])
        rows["free"].append(free_evidence(face))
        rows["depth"].append(occlusion_depth(face.landmarks, face.vertices, tri))
        rows["inset"].append(silhouette_inset(face.landmarks, face.vertices))
        rows["label"].append(np.ones(68, bool) if label is None else label)

    for n, i in enumerate(picks):
        image = load_image(labels.images_root / str(labels.paths[i]))
        human = labels.human_landmarks[i].astype(np.float64)
        record(0, image, human, float(labels.pose[i, 1]), None)
        crop, verts = working_crop(image, labels.vertices[i].astype(np.float64), 256, 2.2)
        base = tuple(float(a) for a in labels.pose[i])
        delta = sample_delta(base[1], rng, 1 + n % 2)  # (30,60] or (60,90]
        sample = profile_face(crop, verts, base, delta, predictor.topology)
        true_v = sample.vertices.astype(np.float64)
        true68 = predictor.topology.landmarks_from_vertices(true_v)
        exact = occlusion_depth(true68, true_v, tri) <= 1e-3
        record(1, sample.image, true68, float(sample.pose[1]), exact)
        if n % 50 == 0:
            print(n, flush=True)
    np.savez(args.out, **{k: np.array(v) for k, v in rows.items()})
    print(f"saved {len(rows['kind'])} faces to {args.out}")


if __name__ == "__main__":
    main()

"""Fit mtface's 2D landmark definition (core/landmarks2d.py) on human 68-point labels.

Reads a label folder written by ``mtface data import-annotations`` and fits on its TRAINING
photos only (``train.txt``; the held-out ``val.txt`` photos are only scored). The meshes are
the teacher's (before they were fitted to the human points) or, with ``--weights``, a trained
model's on the protocol crop of the human points; with a model the fit is for the predictor's
reading (``Landmarks2D.points_for_cascade``: the keypoint head plus the mesh's offset between
the definitions). Prints the inter-ocular NME of the 3D definition, the start definition and
the fitted one on both parts, and writes the fitted definition to ``--out``.

    python tools/fit_landmarks_2d.py --labels data_cache/w300_labels \
        --out resources/topology/landmarks_2d.npz [--weights runs/x/best.pt]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mtface.core.data.labels import LabelSet, load_human_labels
from mtface.core.evaluation import nme_interocular, region_errors
from mtface.core.landmarks2d import bootstrap_definition, fit_definition
from mtface.core.topology import Topology


def model_meshes(labels: LabelSet, weights: Path) -> tuple[np.ndarray, np.ndarray]:
    """The model's meshes (N, V, 3) and keypoints (N, 68, 3) on the protocol crops."""
    from mtface.core.geometry import protocol_crop
    from mtface.core.imageio import load_image
    from mtface.core.predictor import Predictor

    predictor = Predictor.from_weights(weights)
    meshes, keypoints = [], []
    for i in range(len(labels)):
        tf = protocol_crop(labels.human_landmarks[i].astype(np.float64), predictor.crop_size)
        result = predictor.run_on_transforms(
            load_image(labels.images_root / str(labels.paths[i])), [tf]
        )
        meshes.append(tf.to_image(result.vertices[0, -1]))
        keypoints.append(tf.to_image(result.keypoints[0, -1]))
    return np.stack(meshes), np.stack(keypoints)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--weights", type=Path, help="fit on this model's meshes")
    parser.add_argument("--ridge", type=float, default=1e-3)
    args = parser.parse_args()
    try:
        labels, val = load_human_labels(args.labels)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    if labels.teacher_vertices is None:
        raise SystemExit(f"{args.labels}: no teacher meshes (not made by import-annotations)")
    human = labels.human_landmarks.astype(np.float64)
    topology = Topology.load()
    if args.weights is None:
        meshes = labels.teacher_vertices.astype(np.float64)
        keypoints = np.stack([topology.landmarks_from_vertices(m) for m in meshes])
        what = "the teacher's meshes"
    else:
        meshes, keypoints = model_meshes(labels, args.weights)
        what = f"the meshes of {args.weights.name}"
    embedded = np.stack([topology.landmarks_from_vertices(m) for m in meshes])
    # the fit is of the mesh reading; inner points are read as keypoint + (mesh offset), so
    # their targets are the human points less the keypoint head's own deviation from the mesh
    targets = human - (keypoints[..., :2] - embedded[..., :2])
    start = bootstrap_definition(topology)
    fitted = fit_definition(
        start,
        meshes[~val],
        targets[~val],
        args.ridge,
        source=f"fitted on {int((~val).sum())} training faces of "
        f"{labels.manifest.get('source')} with {what} "
        "(tools/fit_landmarks_2d.py)",
    )

    def score(name: str, read) -> None:
        for part, mask in (("train", ~val), ("val", val)):
            idx = np.nonzero(mask)[0]
            pred = np.stack([read(i) for i in idx])
            errors = nme_interocular(pred, human[mask])
            io = np.linalg.norm(human[mask, 36] - human[mask, 45], axis=1)
            regions = region_errors(pred, human[mask], io)
            print(
                f"{name:>10} {part:>5}: inter-ocular NME {errors.mean():.2f} % ({mask.sum()} "
                "faces); " + " ".join(f"{k} {v:.2f}" for k, v in regions.items())
            )

    score("3d", lambda i: keypoints[i, :, :2])
    for name, definition in (("bootstrap", start), ("fitted", fitted)):
        score(
            name, lambda i, d=definition: d.points_for_cascade(meshes[i], keypoints[i], embedded[i])
        )
    fitted.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

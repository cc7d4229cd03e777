"""Fit a model's 3d landmark offsets (core/landmarks3d.py) on 3DMM-fitted photos.

Each folder holds photos with a Basel Face Model fit beside them (``.jpg`` + ``.mat``: the
AFLW2000-3D subset, 300W-LP). The label of a photo is its ``pt3d_68`` when the ``.mat`` has one,
else the fit's own 68 keypoints (``--bfm`` gives the bases). The model predicts each photo from
the tight box of its label (the evaluation protocol's crop, one pass, no offsets); the offsets
are the mean face-frame displacement to the labels, made mirror-symmetric (ADR 15). Prints the
box NME per |yaw| bin before, leave-one-out (each face corrected by offsets fitted on the
others) and in-sample, and writes the offsets beside the weights (or ``--out``).

    python tools/fit_landmarks_3d.py --fits ../shared/data/aflw2000_3d_subset/images \
        ../shared/data/w300lp_sample --bfm ../shared/data/bfm_subset
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mtface.core.checkpoint import default_weights_path
from mtface.core.data.threedmm import ThreeDmmLabeller, find_fitted_images, read_fit
from mtface.core.evaluation import BINS, nme_box
from mtface.core.formats.matfile import load_mat
from mtface.core.geometry import box_of_points, yaw_bin
from mtface.core.imageio import load_image
from mtface.core.landmarks3d import fit_offsets, leave_one_out, offsets_path
from mtface.core.predictor import Predictor
from mtface.core.topology import Topology
from mtface.core.types import FaceBox
from mtface.core.weights import verify_bundled, write_checksums


def labelled_faces(
    folders: list[Path], bfm: Path | None, predictor: Predictor
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """keypoints (N, 68, 3), vertices (N, V, 3), labels (N, 68, 2), yaw (N,) degrees."""
    labeller = None
    keypoints, vertices, labels, yaws = [], [], [], []
    for folder in folders:
        for image_path, mat_path in find_fitted_images(folder):
            image = load_image(image_path)
            fit = read_fit(mat_path)
            mat = load_mat(mat_path)
            if "pt3d_68" in mat:
                label = np.asarray(mat["pt3d_68"], np.float64)[:2].T - 1.0
            else:
                if bfm is None:
                    raise SystemExit(f"{mat_path} has no pt3d_68: give --bfm for its keypoints")
                labeller = labeller or ThreeDmmLabeller.from_folder(bfm, Topology.load())
                label = labeller.keypoints(fit, image.shape[0])[:, :2]
            box = FaceBox(*box_of_points(label))
            face = predictor.predict(image, [box], box_kind="landmarks", refine=False).faces[0]
            keypoints.append(face.landmarks.astype(np.float64))
            vertices.append(face.vertices.astype(np.float64))
            labels.append(label)
            yaws.append(fit.angles_degrees[1])
    if not labels:
        raise SystemExit("no .jpg + .mat pair in the given folders")
    return np.stack(keypoints), np.stack(vertices), np.stack(labels), np.array(yaws)


def binned_means(errors: np.ndarray, yaws: np.ndarray) -> str:
    bins = np.array([yaw_bin(y) for y in yaws])
    means = [errors[bins == b].mean() if (bins == b).any() else float("nan") for b in BINS]
    return "  ".join(f"{m:5.2f}" for m in means) + f"  mean {np.nanmean(means):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fits", type=Path, nargs="+", required=True)
    parser.add_argument("--bfm", type=Path, default=None)
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--out", type=Path, default=None, help="default: beside the weights")
    args = parser.parse_args()
    weights = args.weights or default_weights_path()
    predictor = Predictor.from_weights(weights, refiner_2d=None, offsets_3d=None)
    keypoints, vertices, labels, yaws = labelled_faces(args.fits, args.bfm, predictor)
    template = predictor.topology.vertices.astype(np.float64)
    counts = [int(sum(yaw_bin(y) == b for y in yaws)) for b in BINS]
    print(f"{len(labels)} faces, per |yaw| bin {' / '.join(map(str, counts))}")
    print("box NME %          " + "  ".join(f"{b:>5}" for b in BINS))
    print("before            ", binned_means(nme_box(keypoints[:, :, :2], labels), yaws))
    flip = predictor.topology.landmark_flip_permutation
    held_out = leave_one_out(keypoints, vertices, labels, template, flip)
    print("leave-one-out     ", binned_means(nme_box(held_out, labels), yaws))
    offsets = fit_offsets(keypoints, vertices, labels, template, flip)
    fitted = np.stack([offsets.apply(k, v, template)[:, :2] for k, v in zip(keypoints, vertices)])
    print("in-sample         ", binned_means(nme_box(fitted, labels), yaws))
    out = args.out or offsets_path(weights)
    offsets.save(out)
    print(f"wrote {out}")
    if out.resolve().parent == default_weights_path().resolve().parent:
        print(f"refreshed {write_checksums()}")
        verify_bundled()


if __name__ == "__main__":
    main()

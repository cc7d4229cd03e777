"""Offsets of the 3d landmark definition: where 3DMM-fitted labels put the 68 points, relative to
the network's keypoints, as fixed 3D vectors in the face's own frame.

The 3d definition (``Topology.landmarks_from_vertices``, ADR 5) is the BFM mean keypoints
registered onto the canonical mesh, and the network's keypoint head learns it from the teacher's
meshes. Labels made by fitting a 3D Morphable Model (AFLW2000-3D's ``pt3d_68``, 300W-LP) place
some points systematically elsewhere on a real face: the jaw lower (the MediaPipe mesh ends
above the BFM's jaw line), the brows lower, the mouth higher (docs/adr/0015-3d-landmark-offsets.md).
Each landmark therefore gets a constant offset in the canonical mesh's frame and units, carried
to a face by the similarity that maps the canonical mesh onto the predicted one: a point fixed
to the head, so it turns and foreshortens with the face.

Fitted per model (the offsets absorb the network's own mean error too), they lie beside its
weights like the 2D refiner: ``mtface_default.pt`` -> ``mtface_default.offsets3d.npz``.

Arrays: keypoints (68, 3) and vertices (V, 3) in image pixels (x right, y down, z toward the
viewer); template (V, 3) the canonical mesh in the same axes; offsets (68, 3) canonical units.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtface.core.checkpoint import companion_path
from mtface.core.geometry import similarity_fit

#: Suffix of a model's offsets beside its weights.
OFFSETS_SUFFIX = ".offsets3d.npz"
FORMAT = "mtface-offsets3d-1"


def offsets_path(weights: Path | None = None) -> Path:
    """Where the 3d offsets of ``weights`` (default: the shipped model) lie."""
    return companion_path(weights, OFFSETS_SUFFIX)


def face_similarity(vertices: np.ndarray, template: np.ndarray) -> tuple[float, np.ndarray]:
    """(scale, rotation (3, 3)) with vertices ~ scale * rotation @ template + t (unweighted)."""
    scale, rotation, _ = similarity_fit(template, vertices)
    return scale, rotation


@dataclass(frozen=True)
class Landmark3DOffsets:
    """offsets (68, 3) in canonical-mesh units; faces: how many labelled faces they came from;
    images: those photos' file names (so an evaluation on them can say it is in-sample)."""

    offsets: np.ndarray
    faces: int
    images: tuple[str, ...] = ()

    def apply(
        self, keypoints: np.ndarray, vertices: np.ndarray, template: np.ndarray
    ) -> np.ndarray:
        """The corrected 3d landmarks (68, 3) of one face: keypoints + s R offsets."""
        scale, rotation = face_similarity(vertices, template)
        return keypoints + scale * self.offsets @ rotation.T

    def save(self, path: Path) -> None:
        from mtface.core.formats.atomic import atomic_write_bytes

        buffer = io.BytesIO()
        np.savez(
            buffer,
            format=np.array(FORMAT),
            offsets=self.offsets.astype(np.float64),
            faces=np.array(self.faces),
            images=np.array(self.images, dtype=str),
        )
        atomic_write_bytes(Path(path), buffer.getvalue())

    @staticmethod
    def load(path: Path) -> Landmark3DOffsets:
        """Read an offsets file; ValueError naming the file when it is not one."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["format"]) != FORMAT:
                    raise ValueError(f"format {data['format']!s}, expected {FORMAT}")
                offsets = np.asarray(data["offsets"], np.float64)
                faces = int(data["faces"])
                images = tuple(str(n) for n in data["images"]) if "images" in data.files else ()
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path}: not a usable 3d landmark offsets file ({exc})") from exc
        if offsets.shape != (68, 3) or not np.isfinite(offsets).all():
            raise ValueError(f"{path}: offsets must be 68 finite (x, y, z), got {offsets.shape}")
        return Landmark3DOffsets(offsets, faces, images)


def face_frame_offsets(
    keypoints: np.ndarray, vertices: np.ndarray, targets: np.ndarray, template: np.ndarray
) -> np.ndarray:
    """One face's offsets (68, 3) in canonical units: the image displacement from its keypoints
    (68, 3) to the labels ``targets`` (68, 2), taken as lying in the image plane (the label has no
    depth), carried into the face's frame by the inverse similarity."""
    scale, rotation = face_similarity(vertices, template)
    displacement = np.zeros((68, 3))
    displacement[:, :2] = targets - keypoints[:, :2]
    return displacement @ rotation / scale


def mirror_symmetric(offsets: np.ndarray, flip_permutation: np.ndarray) -> np.ndarray:
    """Offsets (68, 3) averaged with their mirror image (landmark k with its mirror partner,
    x negated; the canonical mesh is symmetric about x = 0): a face's systematic error has no
    side, and a mirrored crop (``--flip-test``) then gets the mirrored correction."""
    mirrored = offsets[np.asarray(flip_permutation)] * np.array([-1.0, 1.0, 1.0])
    return (offsets + mirrored) / 2.0


def fit_offsets(
    keypoints: np.ndarray,
    vertices: np.ndarray,
    targets: np.ndarray,
    template: np.ndarray,
    flip_permutation: np.ndarray,
    images: tuple[str, ...] = (),
) -> Landmark3DOffsets:
    """Mirror-symmetric mean face-frame offsets over N faces: keypoints (N, 68, 3), vertices
    (N, V, 3), targets (N, 68, 2), the network's raw outputs and 3D-convention labels in the same
    image pixels; ``flip_permutation`` (68,) pairs each landmark with its mirror; ``images``
    the N photos' file names, recorded with the offsets."""
    if len(keypoints) == 0:
        raise ValueError("no face to fit the 3d offsets on")
    per_face = np.stack(
        [face_frame_offsets(k, v, t, template) for k, v, t in zip(keypoints, vertices, targets)]
    )
    return Landmark3DOffsets(
        mirror_symmetric(per_face.mean(axis=0), flip_permutation), len(per_face), tuple(images)
    )


def leave_one_out(
    keypoints: np.ndarray,
    vertices: np.ndarray,
    targets: np.ndarray,
    template: np.ndarray,
    flip_permutation: np.ndarray,
) -> np.ndarray:
    """Each face's corrected landmarks (N, 68, 2) with offsets fitted on the other N - 1 faces
    (as :func:`fit_offsets`): an estimate of the correction's effect on faces it was not fitted
    on."""
    out = np.empty((len(keypoints), 68, 2))
    for i in range(len(keypoints)):
        others = [np.delete(a, i, axis=0) for a in (keypoints, vertices, targets)]
        offsets = fit_offsets(*others, template, flip_permutation)
        out[i] = offsets.apply(keypoints[i], vertices[i], template)[:, :2]
    return out

"""Datasets labelled by a 3D Morphable Model fit: 300W-LP and AFLW2000-3D (``.jpg`` + ``.mat``).

Each ``.mat`` holds the Basel Face Model fit of its photo: ``Pose_Para`` = [pitch, yaw, roll
(radians), tx, ty, tz, s], ``Shape_Para`` (199) and ``Exp_Para`` (29). With the BFM bases a user
gives (the 3DDFA ``bfm_subset`` layout: ``Model_PAF.pkl`` with the dense 64 x 64 grid, and the
68-keypoint bases ``u_base.txt`` / ``w_shp_base.txt`` / ``w_exp_base.txt``) this module turns a
fit into dense labels in mtface's topology:

* :class:`BfmModel` evaluates the grid (4,096 vertices) and the 68 keypoints for a fit, using the
  first 40 shape and 10 expression components as 3DDFA does;
* :class:`TopologyOnBfm` places every vertex of the canonical mesh on the BFM mean grid once
  (anchors + thin-plate spline + closest point, ``core/registration.py``) and then follows the
  grid's deformation: vertex = barycentric point on its grid triangle + a fixed offset;
* :func:`project_fit` applies ``Pose_Para`` (p = s R v + t, rows flipped, 1-based) and returns
  0-based image pixels with z toward the viewer, mtface's convention.

The 68 landmarks of a sample are then the topology's embedding on those vertices, so dense shape,
keypoints and pose agree exactly, as the synthetic samples do. (300W-LP's ``pt2d`` is the warped
original annotation, about 9 px from the model projection; it is not used.)
"""

from __future__ import annotations

import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mtface.core.data.profiling import working_crop
from mtface.core.data.sampleset import SampleSetWriter
from mtface.core.formats.matfile import MatFileError, load_mat
from mtface.core.geometry import rotation_from_angles
from mtface.core.imageio import ImageLoadError, load_image
from mtface.core.registration import SEED_CORRESPONDENCES, anchor_warp, closest_points_on_mesh
from mtface.core.topology import Topology

GRID_SIDE = 64
SHAPE_COMPONENTS = 40
EXPRESSION_COMPONENTS = 10
#: (x, y, z) model axes (y up) <-> mtface image axes (y down).
_FLIP_Y = np.array([1.0, -1.0, 1.0])


class ThreeDmmError(ValueError):
    """A BFM folder or a fit file that cannot be used; the message says which and why."""


#: What a BFM pickle may name: numpy's array / dtype / scalar reconstructors and plain sets.
#: Anything else (os.system, builtins.eval, ...) would run code while unpickling.
PICKLE_ALLOWED = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
    }
)


class ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, numbers, strings and containers; refuses every other class or
    function with pickle.UnpicklingError (a crafted file cannot run code)."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in PICKLE_ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name} (only numpy arrays "
            "and plain containers are allowed in a BFM file)"
        )


def grid_triangles(side: int = GRID_SIDE) -> np.ndarray:
    """Triangles (2 (side-1)^2, 3) of a ``side`` x ``side`` vertex grid stored row-major."""
    i, j = np.meshgrid(np.arange(side - 1), np.arange(side - 1), indexing="ij")
    a = (i * side + j).ravel()
    b, c, d = a + side, a + side + 1, a + 1
    return np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)]).astype(np.int64)


@dataclass(frozen=True)
class BfmModel:
    """The BFM grid and 68 keypoints with their bases, in BFM model units and axes (y up).

    grid_mean (3G,), grid_shape (3G, 40), grid_expression (3G, 10); keypoint_* likewise with 68
    points; xyz interleaved as in the 3DDFA files.
    """

    grid_mean: np.ndarray
    grid_shape: np.ndarray
    grid_expression: np.ndarray
    keypoint_mean: np.ndarray
    keypoint_shape: np.ndarray
    keypoint_expression: np.ndarray
    triangles: np.ndarray

    @staticmethod
    def load(folder: Path) -> BfmModel:
        """Read a ``bfm_subset`` folder; raises ThreeDmmError naming a missing or bad file."""
        folder = Path(folder)
        needed = ["Model_PAF.pkl", "u_base.txt", "w_shp_base.txt", "w_exp_base.txt"]
        missing = [n for n in needed if not (folder / n).is_file()]
        if missing:
            raise ThreeDmmError(f"{folder}: not a BFM folder, missing {', '.join(missing)}")
        try:
            # The user's own BFM file (3DDFA format); pickle is that project's choice, so it is
            # read with an unpickler that builds numpy arrays and plain containers only.
            with open(folder / "Model_PAF.pkl", "rb") as handle:
                paf = ArraysOnlyUnpickler(handle).load()
            if not isinstance(paf, dict):
                raise ValueError(f"Model_PAF.pkl holds a {type(paf).__name__}, not a dict")
            grid = (
                np.asarray(paf["mu_filter"], np.float64).ravel(),
                np.asarray(paf["w_filter"], np.float64)[:, :SHAPE_COMPONENTS],
                np.asarray(paf["w_exp_filter"], np.float64)[:, :EXPRESSION_COMPONENTS],
            )
            keypoints = (
                np.loadtxt(folder / "u_base.txt").ravel(),
                np.loadtxt(folder / "w_shp_base.txt")[:, :SHAPE_COMPONENTS],
                np.loadtxt(folder / "w_exp_base.txt")[:, :EXPRESSION_COMPONENTS],
            )
        except (
            OSError,
            KeyError,
            ValueError,
            TypeError,
            AttributeError,
            IndexError,
            pickle.UnpicklingError,
            EOFError,
        ) as exc:
            raise ThreeDmmError(f"{folder}: unreadable BFM file ({exc})") from exc
        if grid[0].size != 3 * GRID_SIDE**2 or keypoints[0].size != 3 * 68:
            raise ThreeDmmError(
                f"{folder}: expected a {GRID_SIDE}x{GRID_SIDE} grid and 68 "
                f"keypoints, got {grid[0].size // 3} and {keypoints[0].size // 3}"
            )
        return BfmModel(*grid, *keypoints, grid_triangles())

    def grid(self, shape: np.ndarray, expression: np.ndarray) -> np.ndarray:
        """Grid vertices (G, 3) of a fit; shape (>= 40,), expression (>= 10,)."""
        flat = (
            self.grid_mean
            + self.grid_shape @ shape[:SHAPE_COMPONENTS]
            + self.grid_expression @ expression[:EXPRESSION_COMPONENTS]
        )
        return flat.reshape(-1, 3)

    def keypoints(self, shape: np.ndarray, expression: np.ndarray) -> np.ndarray:
        """The 68 keypoints (68, 3) of a fit."""
        flat = (
            self.keypoint_mean
            + self.keypoint_shape @ shape[:SHAPE_COMPONENTS]
            + self.keypoint_expression @ expression[:EXPRESSION_COMPONENTS]
        )
        return flat.reshape(-1, 3)


@dataclass(frozen=True)
class TopologyOnBfm:
    """The canonical mesh's vertices on the BFM grid: triangle (V,), barycentric (V, 3), offset
    (V, 3) in BFM units (the part of the vertex off the grid surface, e.g. beyond its edge)."""

    triangle: np.ndarray
    barycentric: np.ndarray
    offset: np.ndarray

    @staticmethod
    def register(topology: Topology, bfm: BfmModel) -> TopologyOnBfm:
        """Place the canonical mesh on the BFM mean grid: similarity + thin-plate spline on the
        shared anchor points (eye and mouth corners, nose, chin, lips), then closest point."""
        seeds = sorted(SEED_CORRESPONDENCES)
        canonical = topology.vertices.astype(np.float64) * _FLIP_Y  # model axes, like the BFM
        bfm_anchors = bfm.keypoint_mean.reshape(-1, 3)[seeds]
        warped = anchor_warp(
            canonical, canonical[[SEED_CORRESPONDENCES[i] for i in seeds]], bfm_anchors
        )
        mean_grid = bfm.grid_mean.reshape(-1, 3)
        closest, bary, triangle = closest_points_on_mesh(mean_grid, bfm.triangles, warped)
        return TopologyOnBfm(triangle.astype(np.int64), bary, warped - closest)

    def vertices(self, bfm: BfmModel, grid: np.ndarray) -> np.ndarray:
        """Canonical-mesh vertices (V, 3) in BFM units and axes from grid vertices (G, 3)."""
        corners = grid[bfm.triangles[self.triangle]]  # (V, 3, 3)
        return np.einsum("vk,vkd->vd", self.barycentric, corners) + self.offset


@dataclass(frozen=True)
class ThreeDmmFit:
    """One ``.mat``: pose (7,) = Pose_Para, shape (199,), expression (29,)."""

    pose: np.ndarray
    shape: np.ndarray
    expression: np.ndarray

    @property
    def angles_degrees(self) -> np.ndarray:
        """(pitch, yaw, roll) in degrees, the ``Pose_Para`` convention mtface uses."""
        return np.rad2deg(self.pose[:3])


def read_fit(path: Path) -> ThreeDmmFit:
    """Read a 300W-LP / AFLW2000-3D ``.mat``; raises ThreeDmmError naming what is wrong."""
    try:
        mat = load_mat(path)
    except MatFileError as exc:
        raise ThreeDmmError(str(exc)) from exc
    missing = [k for k in ("Pose_Para", "Shape_Para", "Exp_Para") if k not in mat]
    if missing:
        raise ThreeDmmError(f"{path}: no 3DMM fit (missing {', '.join(missing)})")
    pose = np.asarray(mat["Pose_Para"], np.float64).ravel()
    shape = np.asarray(mat["Shape_Para"], np.float64).ravel()
    expression = np.asarray(mat["Exp_Para"], np.float64).ravel()
    if (
        pose.size < 7
        or shape.size < SHAPE_COMPONENTS
        or expression.size < EXPRESSION_COMPONENTS
        or not all(np.isfinite(a).all() for a in (pose, shape, expression))
    ):
        raise ThreeDmmError(
            f"{path}: malformed fit (Pose_Para {pose.size}, Shape_Para "
            f"{shape.size}, Exp_Para {expression.size} values, or NaN)"
        )
    return ThreeDmmFit(pose[:7], shape, expression)


def project_fit(points_model: np.ndarray, fit: ThreeDmmFit, image_height: int) -> np.ndarray:
    """BFM points (N, 3) -> image pixels (N, 3): p = s R v + t, then rows flipped.

    The datasets' projections are 1-based (MATLAB): y_1 = H + 1 - y. mtface pixels are 0-based,
    so x_0 = x - 1 and y_0 = H - y; z (toward the viewer) is scaled with s and kept.
    """
    rotation = rotation_from_angles(*fit.angles_degrees)
    projected = fit.pose[6] * points_model @ rotation.T + fit.pose[3:6]
    return np.stack(
        [projected[:, 0] - 1.0, image_height - projected[:, 1], projected[:, 2]], axis=1
    )


def pin_landmarks(
    vertices: np.ndarray, topology: Topology, keypoints: np.ndarray, passes: int = 2
) -> np.ndarray:
    """Move a mesh (V, 3) smoothly so that its embedded 68 landmarks land on ``keypoints``
    (68, 3): a thin-plate-spline field through the 68 residuals, applied ``passes`` times (the
    landmarks are barycentric points, so one pass leaves a small second-order remainder)."""
    from scipy.interpolate import RBFInterpolator

    out = np.asarray(vertices, np.float64)
    for _ in range(passes):
        landmarks = topology.landmarks_from_vertices(out)
        field = RBFInterpolator(
            landmarks, keypoints - landmarks, kernel="thin_plate_spline", degree=1
        )
        out = out + field(out)
    return out


@dataclass(frozen=True)
class ThreeDmmLabeller:
    """Dense labels in mtface's topology for 3DMM-fitted photos.

    The grid carries the fit's shape and expression to every canonical vertex; the fit's own 68
    keypoints then pin the landmark embedding (:func:`pin_landmarks`), because the 64 x 64 grid
    is coarse around the eyes and lips and the two registrations are not exact inverses (on the
    16 AFLW2000-3D fits: 68-point error to ``pt3d_68`` 1.0-3.8 % before pinning, 0.2-1.3 %
    after, which is the BFM keypoints' own reproduction error).
    """

    bfm: BfmModel
    embedding: TopologyOnBfm
    topology: Topology

    @staticmethod
    def from_folder(bfm_folder: Path, topology: Topology) -> ThreeDmmLabeller:
        bfm = BfmModel.load(bfm_folder)
        return ThreeDmmLabeller(bfm, TopologyOnBfm.register(topology, bfm), topology)

    def vertices(self, fit: ThreeDmmFit, image_height: int) -> np.ndarray:
        """The fit's canonical-mesh vertices (V, 3) in 0-based image pixels (mtface axes)."""
        grid = self.bfm.grid(fit.shape, fit.expression)
        dense = pin_landmarks(
            self.embedding.vertices(self.bfm, grid),
            self.topology,
            self.bfm.keypoints(fit.shape, fit.expression),
        )
        return project_fit(dense, fit, image_height)

    def keypoints(self, fit: ThreeDmmFit, image_height: int) -> np.ndarray:
        """The BFM's own 68 keypoints (68, 3) in 0-based image pixels (as ``pt3d_68`` - 1)."""
        return project_fit(self.bfm.keypoints(fit.shape, fit.expression), fit, image_height)


def find_fitted_images(folder: Path) -> list[tuple[Path, Path]]:
    """(image, .mat) pairs under ``folder`` (recursive, sorted): 300W-LP keeps them side by side
    in AFW/, HELEN/, IBUG/, LFPW/ and their _Flip twins; AFLW2000-3D in one folder."""
    pairs = []
    for mat in sorted(Path(folder).rglob("*.mat")):
        for suffix in (".jpg", ".png", ".jpeg"):
            image = mat.with_suffix(suffix)
            if image.is_file():
                pairs.append((image, mat))
                break
    return pairs


def is_test_benchmark(folder: Path) -> bool:
    """True for AFLW2000-3D (by its folder names): a benchmark, never training data."""
    return any("aflw2000" in part.lower() for part in Path(folder).resolve().parts)


def import_fitted_folder(
    folder: Path,
    bfm_folder: Path,
    out_dir: Path,
    work_size: int = 160,
    context: float = 2.2,
    limit: int | None = None,
    licence: str = "",
) -> tuple[int, list[str]]:
    """Write the 3DMM-fitted photos of ``folder`` as a training set (``core/data/sampleset.py``).

    Each photo becomes one working crop with its dense vertices, and pose = ``Pose_Para`` in
    degrees. Unreadable photos or fits are skipped and reported. Returns (count, problems).
    Raises ThreeDmmError for an unusable BFM folder, no fitted photos, or an AFLW2000-3D folder
    (a benchmark: ``mtface evaluate`` reads it, training must not).
    """
    if is_test_benchmark(folder):
        raise ThreeDmmError(
            f"{folder}: AFLW2000-3D is a test benchmark; it is never turned into "
            "training data (evaluate on it with `mtface evaluate --aflw2000`)"
        )
    root = Path(folder).resolve()
    pairs = find_fitted_images(root)[:limit]
    if not pairs:
        raise ThreeDmmError(f"{folder}: no image with a .mat fit beside it")
    topology = Topology.load()
    labeller = ThreeDmmLabeller.from_folder(bfm_folder, topology)
    writer = SampleSetWriter(out_dir, len(pairs), work_size, topology.num_vertices)
    problems: list[str] = []
    for index, (image_path, mat_path) in enumerate(
        tqdm(pairs, desc="import", unit="photo", file=sys.stderr)
    ):
        try:
            image = load_image(image_path)
            fit = read_fit(mat_path)
        except (ImageLoadError, ThreeDmmError) as exc:
            problems.append(str(exc))
            continue
        vertices = labeller.vertices(fit, image.shape[0])
        crop, crop_vertices = working_crop(image, vertices, work_size, context)
        writer.add(crop, crop_vertices, fit.angles_degrees, index)
    count = writer.close(
        {
            "work_size": work_size,
            "context": context,
            "labels": {
                "format": "3dmm-fit",
                "source": str(root),
                "licence": licence,
                "bfm": str(Path(bfm_folder).resolve()),
                "dense": "BFM 64x64 grid, 40 shape + 10 expression components, canonical "
                "mesh registered on the mean grid, 68 keypoints pinned",
                "pose": "Pose_Para (degrees)",
            },
            "images": [str(p.relative_to(root)) for p, _ in pairs],
        }
    )
    return count, problems

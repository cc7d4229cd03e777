"""Fit the Basel Face Model's 68 keypoints to 68 human points: 3D-convention labels from 2D ones.

300W-LP and AFLW2000-3D label a photo with a 3DMM fit made from its 68 (or 21) human points
(3DDFA's "landmark marching" fit). Their 68-point labels (``pt3d_68``) and poses (``Pose_Para``)
are that fit's keypoints and rotation, not the clicks. This module makes the same kind of fit for
any photo with 68 human points, so a folder of 300-W-style annotations gets labels in the
AFLW2000-3D convention (docs/adr/0014-pose-frame-calibration.md):

* scaled orthographic camera p = s R v + t (``Pose_Para``'s, image rows flipped, 1-based);
* 40 shape + 10 expression components with a Gaussian prior whose mean and spread are 3DDFA's
  parameter statistics on 300W-LP (``param_whitening.pkl``);
* the contour points on the side turned away from the camera march to the silhouette: each
  slides along a horizontal band of the dense grid and takes its extreme vertex along the
  face's horizontal image axis (near-side contour points stay fixed keypoints);
* alternation: pose by an orthonormalised affine fit, then shape and expression by regularised
  linear least squares, a fixed number of rounds.

Everything is numpy on one face: points (68, 2) in 0-based image pixels (x right, y down).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtface.core.data.threedmm import (
    EXPRESSION_COMPONENTS,
    SHAPE_COMPONENTS,
    ArraysOnlyUnpickler,
    BfmModel,
    ThreeDmmError,
    ThreeDmmFit,
    project_fit,
)
from mtface.core.geometry import angles_from_rotation

#: The jaw outline without the chin (0-based iBUG-68); 0-7 on the subject's right (model -x).
CONTOUR_POINTS: tuple[int, ...] = tuple(range(0, 8)) + tuple(range(9, 17))
#: Alternation rounds (pose, marching, shape); the fit settles in about five.
ROUNDS = 10
#: Leading rounds that fit the inner points only (brows, eyes, nose, mouth, chin).
INNER_ROUNDS = 3
#: Spread of a human click around the model's point, as a fraction of the face size
#: sqrt(w * h) of the points' box: weighs the data against the shape prior.
POINT_SIGMA = 0.02
#: Below this |yaw| (degrees) no point marches: both contours are the fixed keypoints.
MARCH_MIN_YAW_DEG = 10.0
#: 3DDFA's parameter layout in ``param_whitening.pkl``: 12 pose, 40 shape, 10 expression.
_SHAPE_SLICE = slice(12, 12 + SHAPE_COMPONENTS)
_EXPRESSION_SLICE = slice(12 + SHAPE_COMPONENTS, 12 + SHAPE_COMPONENTS + EXPRESSION_COMPONENTS)


@dataclass(frozen=True)
class ParameterPrior:
    """Gaussian prior of the shape (40) and expression (10) parameters: mean and spread."""

    shape_mean: np.ndarray
    shape_std: np.ndarray
    expression_mean: np.ndarray
    expression_std: np.ndarray

    @staticmethod
    def load(folder: Path) -> ParameterPrior:
        """3DDFA's ``param_whitening.pkl`` (62-d ``param_mean`` / ``param_std``)."""
        path = Path(folder) / "param_whitening.pkl"
        try:
            with open(path, "rb") as handle:
                stats = ArraysOnlyUnpickler(handle).load()
            mean = np.asarray(stats["param_mean"], np.float64).ravel()
            std = np.asarray(stats["param_std"], np.float64).ravel()
        except (OSError, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
            raise ThreeDmmError(f"{path}: unreadable parameter statistics ({exc})") from exc
        if mean.size < 62 or std.size < 62 or not (std[12:62] > 0).all():
            raise ThreeDmmError(f"{path}: expected 62 parameter means and positive spreads")
        return ParameterPrior(
            mean[_SHAPE_SLICE], std[_SHAPE_SLICE], mean[_EXPRESSION_SLICE], std[_EXPRESSION_SLICE]
        )


@dataclass(frozen=True)
class KeypointFit:
    """A fit of the BFM keypoints to 68 points.

    fit: ``Pose_Para`` / ``Shape_Para`` / ``Exp_Para`` as 300W-LP stores them (tz = 0);
    keypoints: the fit's 68 keypoints (68, 3) in 0-based image pixels (``pt3d_68`` - 1, z toward
    the viewer); residual_px: mean distance of the fitted correspondences (marched contour
    points where they marched) to the given points, in pixels.
    """

    fit: ThreeDmmFit
    keypoints: np.ndarray
    residual_px: float


def contour_bands(bfm: BfmModel) -> list[np.ndarray]:
    """Grid vertices each contour point may march along: those on its side of the mean face
    whose height lies within half the distance to its neighbouring jaw points. (16,) arrays."""
    grid = bfm.grid_mean.reshape(-1, 3)
    jaw = bfm.keypoint_mean.reshape(-1, 3)[:17]
    width = float(np.ptp(grid[:, 0]))
    bands = []
    for landmark in CONTOUR_POINTS:
        y = jaw[landmark, 1]
        gaps = [abs(jaw[j, 1] - y) for j in (landmark - 1, landmark + 1) if 0 <= j < 17]
        half = max(max(gaps) / 2.0, 0.005 * width)
        side = -1.0 if landmark < 8 else 1.0
        on_side = grid[:, 0] * side > 0.05 * width
        bands.append(np.nonzero(on_side & (np.abs(grid[:, 1] - y) <= half))[0])
    return bands


@dataclass(frozen=True)
class KeypointFitter:
    """Fits :class:`BfmModel` keypoints (with contour marching) to 68 image points."""

    bfm: BfmModel
    prior: ParameterPrior
    bands: tuple[np.ndarray, ...]

    @staticmethod
    def from_folder(bfm_folder: Path) -> KeypointFitter:
        """A ``bfm_subset`` folder (the 3DDFA layout, with ``param_whitening.pkl``)."""
        bfm = BfmModel.load(bfm_folder)
        return KeypointFitter(bfm, ParameterPrior.load(bfm_folder), tuple(contour_bands(bfm)))

    def fit(
        self,
        points: np.ndarray,
        image_height: int,
        march: bool = True,
        weights: np.ndarray | None = None,
    ) -> KeypointFit:
        """Fit to ``points`` (68, 2), 0-based image pixels; ``image_height`` in pixels.
        ``march=False`` keeps every point on its fixed keypoint (for points that already are
        3D-convention keypoints, such as ``pt3d_68``). ``weights`` (68,) >= 0 weighs the points
        (0 leaves a point out); default all 1."""
        points = np.asarray(points, np.float64)
        if points.shape != (68, 2) or not np.isfinite(points).all():
            raise ValueError(f"expected 68 finite (x, y) points, got {points.shape}")
        # Pose_Para's frame: 1-based, rows flipped (y up).
        target = np.stack([points[:, 0] + 1.0, image_height - points[:, 1]], axis=1)
        size = float(np.sqrt(max(np.prod(np.ptp(target, axis=0)), 1e-9)))
        sigma = POINT_SIGMA * size
        point_weights = np.ones(68) if weights is None else np.asarray(weights, np.float64)
        if (
            point_weights.shape != (68,)
            or not (point_weights >= 0).all()
            or point_weights.sum() == 0
        ):
            raise ValueError("weights must be 68 non-negative numbers, not all zero")
        shape = self.prior.shape_mean.copy()
        expression = self.prior.expression_mean.copy()
        rows = np.arange(68)  # point i <- keypoint i until the contour marches
        marched = np.zeros(68, bool)
        inner_weights = point_weights.copy()
        inner_weights[list(CONTOUR_POINTS)] = 0.0
        for round_index in range(ROUNDS):
            # The first rounds leave the contour out: on a turned face its points only find
            # their silhouette correspondences once the camera is roughly right.
            round_weights = inner_weights if round_index < INNER_ROUNDS else point_weights
            basis_mean, basis_shape, basis_expression = self._correspondence_bases(rows, marched)
            model = (basis_mean + basis_shape @ shape + basis_expression @ expression).reshape(
                -1, 3
            )
            scale, rotation, shift = _scaled_orthographic_fit(model, target, round_weights)
            if march:
                rows, marched = self._march(shape, expression, scale, rotation, shift)
            basis_mean, basis_shape, basis_expression = self._correspondence_bases(rows, marched)
            shape, expression = self._solve_shape(
                basis_mean,
                basis_shape,
                basis_expression,
                scale,
                rotation,
                shift,
                target,
                sigma / np.sqrt(np.maximum(round_weights, 1e-12)),
            )
        basis_mean, basis_shape, basis_expression = self._correspondence_bases(rows, marched)
        model = (basis_mean + basis_shape @ shape + basis_expression @ expression).reshape(-1, 3)
        scale, rotation, shift = _scaled_orthographic_fit(model, target, point_weights)
        distances = np.linalg.norm(scale * model @ rotation[:2].T + shift - target, axis=1)
        residual = float((distances * point_weights).sum() / point_weights.sum())
        pitch, yaw, roll = angles_from_rotation(rotation)
        pose = np.array([*np.deg2rad([pitch, yaw, roll]), shift[0], shift[1], 0.0, scale])
        fit = ThreeDmmFit(pose, shape, expression)
        keypoints = project_fit(self.bfm.keypoints(shape, expression), fit, image_height)
        return KeypointFit(fit, keypoints, residual)

    # --- steps ----------------------------------------------------------------------------

    def _correspondence_bases(
        self, rows: np.ndarray, marched: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean (204,), shape (204, 40) and expression (204, 10) of the 68 model points the
        given points correspond to: keypoint rows, or grid rows where a point marched."""
        xyz = np.arange(3)
        mean = np.empty(204)
        shape = np.empty((204, SHAPE_COMPONENTS))
        expression = np.empty((204, EXPRESSION_COMPONENTS))
        for point in range(68):
            out = 3 * point + xyz
            source = 3 * rows[point] + xyz
            if marched[point]:
                mean[out] = self.bfm.grid_mean[source]
                shape[out] = self.bfm.grid_shape[source]
                expression[out] = self.bfm.grid_expression[source]
            else:
                mean[out] = self.bfm.keypoint_mean[source]
                shape[out] = self.bfm.keypoint_shape[source]
                expression[out] = self.bfm.keypoint_expression[source]
        return mean, shape, expression

    def _march(
        self,
        shape: np.ndarray,
        expression: np.ndarray,
        scale: float,
        rotation: np.ndarray,
        shift: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Correspondences for the current fit: (68,) model rows and (68,) marched flags. The
        contour points on the far side take their band's extreme grid vertex along the face's
        horizontal image axis (the image direction of the model's x axis)."""
        rows = np.arange(68)
        marched = np.zeros(68, bool)
        nose_x = rotation[0, 2]  # the image x of the model's forward axis
        if abs(np.rad2deg(np.arcsin(np.clip(abs(nose_x), 0.0, 1.0)))) < MARCH_MIN_YAW_DEG:
            return rows, marched
        grid = self.bfm.grid(shape, expression)
        image = scale * grid @ rotation[:2].T + shift
        axis = rotation[:2, 0] / max(float(np.linalg.norm(rotation[:2, 0])), 1e-12)
        for landmark, band in zip(CONTOUR_POINTS, self.bands, strict=True):
            side = -1.0 if landmark < 8 else 1.0
            if side * nose_x <= 0 or band.size == 0:
                continue  # the near side: the fixed keypoint is visible
            rows[landmark] = int(band[np.argmax(side * image[band] @ axis)])
            marched[landmark] = True
        return rows, marched

    def _solve_shape(
        self,
        basis_mean: np.ndarray,
        basis_shape: np.ndarray,
        basis_expression: np.ndarray,
        scale: float,
        rotation: np.ndarray,
        shift: np.ndarray,
        target: np.ndarray,
        sigma: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Regularised least squares for shape and expression at a fixed camera; ``sigma``
        (68,) is each point's spread in pixels."""
        camera = scale * rotation[:2]  # (2, 3)
        basis = np.concatenate([basis_shape, basis_expression], axis=1).reshape(68, 3, -1)
        per_row = np.repeat(sigma, 2)
        design = np.einsum("ij,pjk->pik", camera, basis).reshape(136, -1) / per_row[:, None]
        mean_image = basis_mean.reshape(68, 3) @ camera.T + shift
        rhs = (target - mean_image).ravel() / per_row
        prior_mean = np.concatenate([self.prior.shape_mean, self.prior.expression_mean])
        prior_std = np.concatenate([self.prior.shape_std, self.prior.expression_std])
        # Solve in whitened parameters w = (p - mean) / std.
        whitened = design * prior_std
        normal = whitened.T @ whitened + np.eye(whitened.shape[1])
        w = np.linalg.solve(normal, whitened.T @ (rhs - design @ prior_mean))
        params = prior_mean + prior_std * w
        return params[:SHAPE_COMPONENTS], params[SHAPE_COMPONENTS:]


def _scaled_orthographic_fit(
    model: np.ndarray, target: np.ndarray, weights: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Camera target ~ s R[:2] model + t: a weighted affine fit, orthonormalised (SVD).
    model (N, 3), target (N, 2), weights (N,) -> (s, R (3, 3) proper rotation, t (2,))."""
    w = weights / weights.sum()
    model_centre, target_centre = w @ model, w @ target
    root = np.sqrt(w)[:, None]
    centred_model = (model - model_centre) * root
    centred_target = (target - target_centre) * root
    affine, *_ = np.linalg.lstsq(centred_model, centred_target, rcond=None)  # (3, 2)
    u, singular, vt = np.linalg.svd(affine.T, full_matrices=False)  # (2, 3) = u diag vt
    top = u @ vt
    rotation = np.vstack([top, np.cross(top[0], top[1])])
    scale = float(singular.mean())
    shift = target_centre - scale * model_centre @ top.T
    return scale, rotation, shift

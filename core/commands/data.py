"""``mtface data label | synthesize | import-3dmm | import-annotations | fit-refiner | fit-offsets
| preview``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from mtface.core.crop_coords import normalised_to_crop, pose_from_normalised


def run_data(args: argparse.Namespace) -> int:
    if args.data_command == "label":
        from mtface.core.data.labelling import label_folder

        kept, seen = label_folder(
            args.images, args.out, args.licence, args.limit, remove_overlays=args.remove_overlays
        )
        print(f"labelled {kept} of {seen} images -> {args.out}", file=sys.stderr)
        return 0 if kept else 1
    if args.data_command == "synthesize":
        from mtface.core.data.labels import load_labels
        from mtface.core.data.synthesis import synthesize

        labels = load_labels(args.labels)
        if args.split != "all":
            fraction = args.val_fraction
            if fraction is None:
                fraction = float(labels.manifest.get("val_fraction", 0.1))
            train, val = labels.split_by_identity(fraction)
            labels = train if args.split == "train" else val
        count = synthesize(labels, args.out, args.variants, seed=args.seed)
        print(f"wrote {count} samples -> {args.out}", file=sys.stderr)
        return 0 if count else 1
    if args.data_command == "import-3dmm":
        from mtface.core.data.threedmm import ThreeDmmError, import_fitted_folder

        try:
            count, problems = import_fitted_folder(
                args.images, args.bfm, args.out, limit=args.limit, licence=args.licence
            )
        except ThreeDmmError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for problem in problems:
            print(f"skipped: {problem}", file=sys.stderr)
        print(f"wrote {count} samples -> {args.out}", file=sys.stderr)
        return 0 if count else 1
    if args.data_command == "import-annotations":
        from mtface.core.data.human_labels import import_annotations

        try:
            report = import_annotations(
                args.images,
                args.out,
                args.licence,
                args.mesh_from,
                args.val_fraction,
                args.weights,
                args.limit,
            )
        except (ValueError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(
            f"imported {report.faces} faces of {report.images} images ({report.skipped} "
            f"skipped, {report.from_model} meshes from the model); split: "
            f"{report.train_files} train / {report.val_files} val annotation files -> "
            f"{args.out}",
            file=sys.stderr,
        )
        return 0 if report.faces else 1
    if args.data_command == "fit-refiner":
        return _fit_refiner(args)
    if args.data_command == "fit-offsets":
        return _fit_offsets(args)
    if args.data_command == "preview":
        from mtface.core.formats.atomic import atomic_write_bytes

        if not (Path(args.data) / "meta.json").is_file() or args.count < 1:
            print(
                f"error: {args.data}: not a training set (no meta.json; make one with "
                "`mtface data synthesize`), or --count < 1",
                file=sys.stderr,
            )
            return 2
        try:
            # `data preview --seed`; 0 where the parser does not offer the option
            grid = preview_grid(args.data, args.count, seed=getattr(args, "seed", 0))
        except (ValueError, IndexError) as exc:
            print(
                f"error: {args.data}: too few samples for a preview grid of {args.count} ({exc})",
                file=sys.stderr,
            )
            return 2
        ok, data = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        atomic_write_bytes(args.out, data.tobytes())
        print(f"wrote {args.out}", file=sys.stderr)
        return 0
    return 2


def _refuses_bundled(out: Path, replace_bundled: bool, what: str) -> bool:
    """True (and says why) when ``out`` is a bundled file and replacing it was not asked for."""
    from mtface.core.weights import bundled_name

    if bundled_name(out) is None or replace_bundled:
        return False
    print(
        f"error: {out} is a bundled file; give --weights (your model) or --out, or "
        f"--replace-bundled to replace the shipped {what} (SHA256SUMS is refreshed)",
        file=sys.stderr,
    )
    return True


def _fit_target(args: argparse.Namespace, what: str, part: str) -> Path | None:
    """The model file a fit writes into (ADR 20): ``--out`` (a new model file: the model plus
    the fitted part) or else the ``--weights`` file itself (default: the shipped model). None,
    after saying why, when it is the shipped model without --replace-bundled, an existing
    --out without --overwrite, or a model that already holds ``part`` without --overwrite."""
    from mtface.core.checkpoint import default_weights_path
    from mtface.core.model_file import load_model
    from mtface.core.weights import WeightsError

    source = args.weights or default_weights_path()
    target = args.out or source
    if target.is_dir():
        print(f"error: {target} is a folder; give the model file to write (.pt)", file=sys.stderr)
        return None
    if _refuses_bundled(target, args.replace_bundled, what):
        return None
    allowed = args.overwrite or args.replace_bundled
    if target.resolve() != source.resolve():  # a new model file
        if target.exists() and not allowed:
            print(f"error: {target} exists; give --overwrite to replace it", file=sys.stderr)
            return None
        return target
    try:
        held = part in load_model(source).identity.parts
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    if held and not allowed:
        print(
            f"error: {target} already holds {what} (`mtface train` or an earlier fit wrote "
            f"them); give --overwrite to replace them, or --out NEW.pt for a new model file",
            file=sys.stderr,
        )
        return None
    return target


def _write_part(args: argparse.Namespace, target: Path, **part: object) -> None:
    """Write the fitted ``part`` (refiner= or offsets=) into the model ``target`` (atomic),
    refreshing SHA256SUMS when it is bundled; a failure reaches the command line's error."""
    from mtface.core.commands.model import write_model_file

    identity = write_model_file(args.weights, target, **part)
    print(f"wrote {target}: {identity.label()}, parts {', '.join(identity.parts)}", file=sys.stderr)


def _fit_offsets(args: argparse.Namespace) -> int:
    """``data fit-offsets``: the 3d landmark offsets of a model on 3DMM-fitted photos (ADR 15)."""
    from mtface.core.data.threedmm import ThreeDmmError, is_test_benchmark
    from mtface.core.training.offsets3d_fit import fit_on_fitted_folders
    from mtface.core.weights import WeightsError

    out = _fit_target(args, "3d offsets", "offsets3d")
    if out is None:
        return 2
    if any(is_test_benchmark(f) for f in args.fits):
        print(
            "note: AFLW2000-3D is a test benchmark; its faces are in this fit, so trust the "
            "leave-one-out figures below, not `mtface evaluate` on the same images",
            file=sys.stderr,
        )
    try:
        report = fit_on_fitted_folders(args.fits, args.weights, args.bfm)
    except (ValueError, OSError, ThreeDmmError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in report.skipped:
        print(f"skipped {problem}", file=sys.stderr)
    bins = list(report.faces)
    print("box NME % per |yaw| bin  " + "  ".join(f"{b:>8}" for b in bins) + "      mean")
    for name, figures in (
        ("before", report.before),
        ("leave-one-out", report.leave_one_out),
        ("in-sample", report.in_sample),
    ):
        cells = [f"{figures[b]:8.2f}" if b in figures else f"{'-':>8}" for b in bins]
        print(f"{name:>23}  " + "  ".join(cells) + f"  {np.mean(list(figures.values())):8.2f}")
    print(f"{'faces':>23}  " + "  ".join(f"{report.faces[b]:8d}" for b in bins))
    _write_part(args, out, offsets=report.offsets)
    print(f"fitted on {report.offsets.faces} faces -> {out}")
    return 0


def _fit_refiner(args: argparse.Namespace) -> int:
    """``data fit-refiner``: the 2D refiner of a model on a label folder (ADR 11)."""
    from mtface.core.training.refine2d_fit import RefinerFitConfig, fit_on_label_folder
    from mtface.core.weights import WeightsError

    out = _fit_target(args, "a 2D refiner", "refiner2d")
    if out is None:
        return 2
    if args.stages < 1 or not args.ridge > 0:
        print("error: --stages must be at least 1 and --ridge above 0", file=sys.stderr)
        return 2
    config = RefinerFitConfig(stages=args.stages, ridge=args.ridge)
    try:
        report = fit_on_label_folder(args.labels, args.weights, config)
    except (ValueError, OSError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, figures in report.errors.items():
        regions = " ".join(f"{k} {v:.2f}" for k, v in figures.items() if k != "nme_io")
        print(f"{name:>13}: inter-ocular NME {figures['nme_io']:.2f} %; {regions}")
    print(report.held_out_line())
    if report.makes_worse and not getattr(args, "force", False):
        print(
            f"error: the refiner makes the held-out error worse; nothing written to {out} "
            "(--force writes it anyway)",
            file=sys.stderr,
        )
        return 1
    _write_part(args, out, refiner=report.refiner)
    print(
        f"fitted on {report.train_faces} faces ({report.val_faces} held out) -> {out}",
        file=sys.stderr,
    )
    return 0


#: Side in pixels of the training crop shown in each preview tile, and of the tile.
PREVIEW_CROP = 120
PREVIEW_TILE = 180


def preview_picks(yaws: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Which samples a preview of ``count`` tiles shows: positions (count,) into ``yaws`` (N,)
    degrees, ordered by |yaw|.

    The samples sorted by |yaw| are split into ``count`` runs of (nearly) equal length and one
    sample is drawn from each run with ``seed``, so the grid spans the poses and another seed
    shows other samples. With fewer samples than tiles every sample is shown, some twice.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, not {count}")
    if len(yaws) == 0:
        raise ValueError("the set has no samples")
    size = np.abs(np.asarray(yaws, dtype=np.float64))
    order = np.argsort(size, kind="stable")
    if count >= len(order):
        picks = np.resize(order, count)
        return picks[np.argsort(size[picks], kind="stable")]
    rng = np.random.default_rng(seed)
    return np.array([rng.choice(run) for run in np.array_split(order, count)], dtype=np.int64)


def preview_grid(folder: str, count: int = 24, columns: int = 8, seed: int = 0) -> np.ndarray:
    """Training crops of a synthetic set with their labels drawn: landmarks (visible blue,
    invisible red) and the yaw, ``count`` >= 1 tiles of PREVIEW_TILE pixels in rows of at most
    ``columns``, the last row padded with black tiles; ``seed`` chooses the samples
    (:func:`preview_picks`). Returns RGB uint8 (rows * 180, min(count, columns) * 180, 3)."""
    from mtface.core.geometry import landmark_visibility
    from mtface.core.topology import Topology
    from mtface.core.training.dataset import SyntheticFaces

    if columns < 1:
        raise ValueError(f"columns must be >= 1, not {columns}")
    topology = Topology.load()
    data = SyntheticFaces(folder, topology, PREVIEW_CROP, augment=None)
    picks = preview_picks(data.pose[data.indices, 1], count, seed)
    zoom = PREVIEW_TILE / PREVIEW_CROP
    tiles = []
    for position in picks:
        image, keypoints, vertices, pose = data[int(position)]
        tile = (image.permute(1, 2, 0).numpy() * 255).astype(np.uint8).copy()
        tile = cv2.resize(tile, (PREVIEW_TILE, PREVIEW_TILE), interpolation=cv2.INTER_LINEAR)
        v = vertices.numpy().astype(np.float64)
        visible = landmark_visibility(
            v, topology.triangles, topology.landmark_triangles, topology.landmark_barycentric
        )
        points = normalised_to_crop(keypoints.numpy()[:, :2], PREVIEW_CROP) * zoom
        for (x, y), vis in zip(points, visible):
            cv2.circle(
                tile, (int(x), int(y)), 2, (40, 90, 255) if vis else (235, 40, 40), -1, cv2.LINE_AA
            )
        cv2.putText(
            tile,
            f"yaw {pose_from_normalised(float(pose[1])):+.0f}",
            (4, 14),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (255, 255, 0),
            1,
            cv2.LINE_AA,
        )
        tiles.append(tile)
    width = min(count, columns)
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % width)
    rows = [np.hstack(tiles[i : i + width]) for i in range(0, len(tiles), width)]
    return np.vstack(rows)

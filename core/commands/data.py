"""``mtface data label | synthesize | import-3dmm | preview``."""

from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np


def run_data(args: argparse.Namespace) -> int:
    if args.data_command == "label":
        from mtface.core.data.labelling import label_folder  # noqa: PLC0415

        kept, seen = label_folder(args.images, args.out, args.licence, args.limit,
                                  remove_overlays=args.remove_overlays)
        print(f"labelled {kept} of {seen} images -> {args.out}", file=sys.stderr)
        return 0 if kept else 1
    if args.data_command == "synthesize":
        from mtface.core.data.labels import load_labels  # noqa: PLC0415
        from mtface.core.data.synthesis import synthesize  # noqa: PLC0415

        labels = load_labels(args.labels)
        if args.split != "all":
            train, val = labels.split_by_identity(args.val_fraction)
            labels = train if args.split == "train" else val
        count = synthesize(labels, args.out, args.variants, seed=args.seed)
        print(f"wrote {count} samples -> {args.out}", file=sys.stderr)
        return 0 if count else 1
    if args.data_command == "import-3dmm":
        from mtface.core.data.threedmm import ThreeDmmError, import_fitted_folder  # noqa: PLC0415

        try:
            count, problems = import_fitted_folder(args.images, args.bfm, args.out,
                                                   limit=args.limit, licence=args.licence)
        except ThreeDmmError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for problem in problems:
            print(f"skipped: {problem}", file=sys.stderr)
        print(f"wrote {count} samples -> {args.out}", file=sys.stderr)
        return 0 if count else 1
    if args.data_command == "preview":
        from mtface.core.formats.atomic import atomic_write_bytes  # noqa: PLC0415

        grid = preview_grid(args.data, args.count)
        ok, data = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        atomic_write_bytes(args.out, data.tobytes())
        print(f"wrote {args.out}", file=sys.stderr)
        return 0
    return 2


def preview_grid(folder: str, count: int = 24, columns: int = 8, seed: int = 0) -> np.ndarray:
    """Training crops of a synthetic set with their labels drawn: landmarks (visible blue,
    invisible red) and the yaw. RGB uint8."""
    from mtface.core.geometry import landmark_visibility  # noqa: PLC0415
    from mtface.core.topology import Topology  # noqa: PLC0415
    from mtface.core.training.dataset import SyntheticFaces  # noqa: PLC0415

    topology = Topology.load()
    data = SyntheticFaces(folder, topology, 120, augment=None)
    rng = np.random.default_rng(seed)
    order = np.argsort(np.abs(data.pose[:, 1]))
    picks = order[np.linspace(0, len(order) - 1, count).astype(int)]
    rng.shuffle(picks)
    tiles = []
    for index in sorted(picks, key=lambda i: abs(data.pose[i, 1])):
        image, keypoints, vertices, pose = data[int(np.nonzero(data.indices == index)[0][0])]
        tile = (image.permute(1, 2, 0).numpy() * 255).astype(np.uint8).copy()
        tile = cv2.resize(tile, (180, 180), interpolation=cv2.INTER_LINEAR)
        v = vertices.numpy().astype(np.float64)
        visible = landmark_visibility(v, topology.triangles, topology.landmark_triangles,
                                      topology.landmark_barycentric)
        for (x, y, _), vis in zip(keypoints.numpy(), visible):
            px = (x * 60 + 59.5) * 1.5, (y * 60 + 59.5) * 1.5
            cv2.circle(tile, (int(px[0]), int(px[1])), 2,
                       (40, 90, 255) if vis else (235, 40, 40), -1, cv2.LINE_AA)
        cv2.putText(tile, f"yaw {float(pose[1]) * 90:+.0f}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX,
                    0.45, (255, 255, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)
            if len(tiles[i:i + columns]) == columns]
    return np.vstack(rows)

"""Calibrate YuNet's boxes against the 68-landmark boxes of teacher-labelled training faces.

Prints the medians (and std) of: landmark side / max(YuNet w, h), horizontal and vertical centre
offsets / YuNet h -- the constants of core/detection/yunet.py.

    python tools/calibrate_yunet.py --labels data_cache/lfw_labels [--count 250]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mtface.core.data.labels import load_labels
from mtface.core.data.overlay import remove_drawn_overlay
from mtface.core.imageio import load_image
from mtface.core.topology import Topology


def main() -> None:
    import yuface

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--count", type=int, default=250)
    args = parser.parse_args()
    labels, _ = load_labels(args.labels).split_by_identity(0.1)  # training identities only
    topology = Topology.load()
    clean = labels.manifest.get("preprocess") == "remove_drawn_overlay"
    rows = []
    for i in np.arange(len(labels))[::12][: args.count]:
        image = load_image(labels.images_root / str(labels.paths[i]))
        image = remove_drawn_overlay(image) if clean else image
        lm = topology.landmarks_from_vertices(labels.vertices[i].astype(np.float64))[:, :2]
        (x0, y0), (x1, y1) = lm.min(0), lm.max(0)
        scores, boxes, _ = yuface.detect(np.ascontiguousarray(image[:, :, ::-1]))
        if len(scores) == 0:
            continue
        bx, by, bw, bh = boxes[int(np.argmax(scores))].astype(np.float64)
        rows.append(
            (
                max(x1 - x0, y1 - y0) / max(bw, bh),
                ((x0 + x1) / 2 - bx - bw / 2) / bh,
                ((y0 + y1) / 2 - by - bh / 2) / bh,
            )
        )
    r = np.array(rows)
    print(
        f"{len(r)} faces: side ratio {np.median(r[:, 0]):.3f} (std {r[:, 0].std():.3f}), "
        f"x offset {np.median(r[:, 1]):.3f}, y offset {np.median(r[:, 2]):.3f} "
        f"(std {r[:, 2].std():.3f})"
    )


if __name__ == "__main__":
    main()

"""Detection rate of mtface's detectors on the shared data: the 16 AFLW2000-3D images,
aflw_val by yaw bin (each 120 px crop on a 240 px mid-grey canvas, as `mtface evaluate
--crop detector` does), and a sample of LFW photos (drawn overlays removed first).

Usage: python tools/detection_rate.py [--shared ../shared/data] [--lfw-step 10]
       [--detector default|blazeface|yunet]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from mtface.core.commands.evaluate import AFLW_DETECTOR_BORDER
from mtface.core.data.overlay import remove_drawn_overlay
from mtface.core.detection.blazeface import BlazeFaceDetector
from mtface.core.detection.yunet import YuNetDetector, default_detector
from mtface.core.evaluation import load_aflw_val
from mtface.core.geometry import yaw_bin
from mtface.core.imageio import list_images, load_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--lfw-step", type=int, default=10)
    parser.add_argument("--detector", choices=("default", "blazeface", "yunet"), default="default")
    args = parser.parse_args()
    det = {"default": default_detector, "blazeface": BlazeFaceDetector, "yunet": YuNetDetector}[
        args.detector
    ]()
    imgs = sorted((args.shared / "aflw2000_3d_subset" / "images").glob("*.jpg"))
    found = sum(bool(det.detect(load_image(p))) for p in imgs)
    print(f"AFLW2000-3D subset: {found}/{len(imgs)}")
    paths, yaws, _, _ = load_aflw_val(args.shared / "aflw_val")
    hits = np.array(
        [
            bool(
                det.detect(
                    cv2.copyMakeBorder(
                        load_image(p),
                        AFLW_DETECTOR_BORDER,
                        AFLW_DETECTOR_BORDER,
                        AFLW_DETECTOR_BORDER,
                        AFLW_DETECTOR_BORDER,
                        cv2.BORDER_CONSTANT,
                        value=(127, 127, 127),
                    )
                )
            )
            for p in paths
        ]
    )
    bins = np.array([yaw_bin(y) for y in yaws])
    for b in ("[0,30]", "(30,60]", "(60,90]"):
        m = bins == b
        print(f"aflw_val {b}: {hits[m].sum()}/{m.sum()} ({hits[m].mean() * 100:.1f}%)")
    lfw = list_images([args.shared / "lfw"])[:: args.lfw_step]
    hits = [bool(det.detect(remove_drawn_overlay(load_image(p)))) for p in lfw]
    print(f"LFW (every {args.lfw_step}th photo): {sum(hits)}/{len(hits)}")


if __name__ == "__main__":
    main()

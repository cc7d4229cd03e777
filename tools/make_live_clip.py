"""Make the live-mode benchmark clip: 640x480, 30 fps, a NEW face every 5 frames (another
photo, another place and size), so the tracker has to notice that its face was replaced.

Faces come from ../shared/data/w300 (human-labelled 300W photos) when present, otherwise from
the bundled sample (mirrored, scaled and moved). Write the clip outside the repository.

Usage: python tools/make_live_clip.py /tmp/clip.avi [--frames 300] [--every 5] [--seed 0]
Then:  mtface live --source /tmp/clip.avi --benchmark
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
W, H = 640, 480


def face_photos(limit: int = 200) -> list[np.ndarray]:
    from mtface.core.imageio import load_image
    from mtface.core.resources import resource_path

    w300 = REPO.parent / "shared" / "data" / "w300"
    paths = sorted(w300.rglob("*.jpg"))[::6][:limit] if w300.exists() else []
    if not paths:
        sample = load_image(resource_path("samples", "astronaut.jpg"))
        return [sample, np.ascontiguousarray(sample[:, ::-1])]
    return [load_image(p) for p in paths]


def make_clip(out: Path, frames: int = 300, every: int = 5, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    photos = face_photos()
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 30, (W, H))
    if not writer.isOpened():
        raise SystemExit(f"error: cannot write {out}")
    canvas = None
    for i in range(frames):
        if i % every == 0:
            photo = photos[int(rng.integers(len(photos)))]
            side = int(rng.integers(220, 400))
            h = min(side, H)
            w = min(int(side * photo.shape[1] / photo.shape[0]), W)
            face = cv2.resize(photo, (w, h), interpolation=cv2.INTER_LINEAR)
            x = int(rng.integers(0, W - w + 1))
            y = int(rng.integers(0, H - h + 1))
            canvas = np.full((H, W, 3), int(rng.integers(40, 200)), np.uint8)
            canvas[y : y + h, x : x + w] = face
        noisy = np.clip(canvas + rng.normal(0, 3, canvas.shape), 0, 255).astype(np.uint8)
        writer.write(cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR))
    writer.release()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    make_clip(args.out, args.frames, args.every, args.seed)
    print(f"wrote {args.out}: {args.frames} frames of {W}x{H}, a new face every {args.every}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

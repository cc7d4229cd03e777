"""Build the fine-tuning benchmark of ``mtface finetune`` (docs/training.md, "Fine-tuning
benchmark"): photos with human 68-point labels turned into another DOMAIN and their labels into
another CONVENTION, split by photo into a fine-tuning folder and an evaluation folder.

Domain ("near-infrared-like"): each photo becomes grey with a red-heavy channel mix
(0.6 R + 0.3 G + 0.1 B, as skin looks bright under near-infrared light), gamma 0.7, a radial
fall-off of the active illumination (x (1 - 0.35 r^2), r = 1 at the photo's corners), a Gaussian
blur (sigma 1.2 px) and Gaussian sensor noise (sigma 8 grey levels, seeded by the photo's name);
saved as a grey PNG of the same size, so the points keep their pixels.

Convention ("protocol B", a systematic re-definition of the iBUG-68 points; d = the distance of
the outer eye corners 36-45, 0-based; "down" = perpendicular to the eye line, toward the mouth):

* jaw 0-16: 0.08 d outward, along the direction from the nose tip (30) to the point;
* brows 17-26: 0.06 d down (the lower edge of the brow instead of its middle);
* nostrils and columella 31-35: 0.04 d down;
* mouth corners 48 and 54: 0.06 d outward along the line between them;
* eyes, nose bridge and the other lip points as annotated.

The inter-ocular normaliser (36, 45) is unchanged, so NMEs stay comparable.

Split by photo (``core/data/human_labels.photo_identity``, ``NAME_1`` / ``NAME_2`` one photo):
the evaluation folder gets every photo that ``mtface data import-annotations`` kept aside from the
shipped model's training (SHA-1 of the photo below 0.2 of the range; ``eval_unseen.txt`` lists
their annotation files, for ``mtface evaluate --pts ... --subset``) and the photos whose SHA-1 of
``"eval:" + photo`` falls below ``--extra-eval``; the rest is the fine-tuning folder.

    python tools/make_finetune_benchmark.py --root ../shared/data/w300 --out data_cache/ft_bench

Output (never commit it; data_cache/ is ignored by git): ``OUT/finetune/...`` and
``OUT/evaluate/...`` (``NAME.png`` + ``NAME.pts``, the input's sub-folders kept),
``OUT/eval_unseen.txt`` and ``OUT/benchmark.json`` (the definition and the counts).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from mtface.core.data.human_labels import find_annotated_images, photo_identity, usable_faces
from mtface.core.data.labels import is_validation_identity
from mtface.core.formats.atomic import atomic_write_bytes, atomic_write_text
from mtface.core.formats.pts import write_pts
from mtface.core.imageio import load_image

#: The held-out share of the shipped model's human-label import (docs/training.md).
SHIPPED_VAL_FRACTION = 0.2
JAW = list(range(0, 17))
BROWS = list(range(17, 27))
NOSE_BOTTOM = list(range(31, 36))
MOUTH_CORNERS = (48, 54)


def protocol_b(points: np.ndarray) -> np.ndarray:
    """iBUG-68 points (68, 2) image pixels -> the same face's points in protocol B (68, 2)."""
    p = np.asarray(points, np.float64)
    out = p.copy()
    axis = p[45] - p[36]
    d = float(np.linalg.norm(axis))
    axis = axis / max(d, 1e-9)
    down = np.array([-axis[1], axis[0]])  # y grows downward in images
    if np.dot(down, p[57] - p[27]) < 0:
        down = -down
    for k in JAW:
        direction = p[k] - p[30]
        out[k] += 0.08 * d * direction / max(float(np.linalg.norm(direction)), 1e-9)
    out[BROWS] += 0.06 * d * down
    out[NOSE_BOTTOM] += 0.04 * d * down
    mouth = p[MOUTH_CORNERS[1]] - p[MOUTH_CORNERS[0]]
    mouth = mouth / max(float(np.linalg.norm(mouth)), 1e-9)
    out[MOUTH_CORNERS[0]] -= 0.06 * d * mouth
    out[MOUTH_CORNERS[1]] += 0.06 * d * mouth
    return out


def near_infrared(image: np.ndarray, seed: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> the near-infrared-like grey image (H, W) uint8 (module doc)."""
    rgb = image.astype(np.float32)
    grey = 0.6 * rgb[..., 0] + 0.3 * rgb[..., 1] + 0.1 * rgb[..., 2]
    grey = 255.0 * (grey / 255.0) ** 0.7
    h, w = grey.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xs - (w - 1) / 2) / (w / 2)) ** 2 + ((ys - (h - 1) / 2) / (h / 2)) ** 2
    grey = grey * (1.0 - 0.35 * r2 / 2.0)
    grey = cv2.GaussianBlur(grey, (0, 0), 1.2)
    grey = grey + np.random.default_rng(seed).normal(0.0, 8.0, grey.shape)
    return grey.clip(0, 255).astype(np.uint8)


def _hash_fraction(text: str) -> float:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="photos with iBUG .pts beside")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--extra-eval",
        type=float,
        default=0.186,
        help="share of the other photos that goes to the evaluation folder",
    )
    args = parser.parse_args()
    root = args.root.resolve()
    if "aflw" in str(root).lower():
        sys.exit("error: AFLW / AFLW2000-3D folders are validation only")
    items = find_annotated_images([root])
    counts = {"finetune": 0, "evaluate": 0, "evaluate_unseen_by_shipped": 0}
    unseen: list[str] = []
    for item in items:
        identity = photo_identity(item.image, root)
        shipped_val = is_validation_identity(identity, SHIPPED_VAL_FRACTION)
        part = (
            "evaluate"
            if shipped_val or _hash_fraction("eval:" + identity) < args.extra_eval
            else "finetune"
        )
        faces = usable_faces(item, lambda message: print(message, file=sys.stderr))
        if not faces:
            continue
        relative = item.image.resolve().relative_to(root)
        target = args.out / part / relative.with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        grey = near_infrared(load_image(item.image), int(_hash_fraction(identity) * 1e9))
        ok, data = cv2.imencode(".png", grey)
        if not ok:
            sys.exit(f"error: cannot encode {target}")
        atomic_write_bytes(target, data.tobytes())
        write_pts(target.with_suffix(".pts"), protocol_b(faces[0].landmarks[:, :2]))
        counts[part] += 1
        if part == "evaluate" and shipped_val:
            counts["evaluate_unseen_by_shipped"] += 1
            unseen.append(str(relative.with_suffix(".pts")))
    atomic_write_text(args.out / "eval_unseen.txt", "".join(u + "\n" for u in unseen))
    atomic_write_text(
        args.out / "benchmark.json",
        json.dumps(
            {
                "source": str(root),
                "domain": "near-infrared-like grey (tools/make_finetune_benchmark.py)",
                "convention": "protocol B (tools/make_finetune_benchmark.py)",
                "faces": counts,
            },
            indent=2,
        ),
    )
    print(json.dumps(counts))


if __name__ == "__main__":
    main()

"""Write the shipped model, resources/models/mtface_default.pt: one model file
(``mtface-model/2``, core/model_file.py) with the shipped model's metadata, then refresh
resources/SHA256SUMS and load the result back as mtface will.

    python tools/export_default_model.py runs/default/best.pt   # new weights (fp16)
    python tools/export_default_model.py --repack               # the shipped file again

With a checkpoint, the new weights replace the shipped ones and the parts fitted for the old
weights (2D refiner, 3d offsets) are dropped: fit them again with ``mtface data fit-refiner``
and ``mtface data fit-offsets`` with ``--replace-bundled``, which write into this file. With
``--repack`` the shipped model is rewritten with the metadata below, its parts kept (an
old-format file's companions beside it go into the file and are removed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mtface.core.checkpoint import default_weights_path, load_cascade
from mtface.core.model_file import load_model, save_model, update_model
from mtface.core.weights import verify_bundled, write_checksums

#: What the shipped model was trained on (dataset: terms), the landmark convention it
#: reproduces and its held-out figures (resources/MODEL_CARD.md, where they were measured).
SHIPPED_META = {
    "name": "mtface_default",
    "trained_on": [
        "LFW, 3,740 photos labelled by MediaPipe FaceMesh 0.10.21 (Apache-2.0): Labeled Faces "
        "in the Wild, University of Massachusetts Amherst; research use",
        "300-W (AFW and HELEN train), 991 faces with human 68-point labels: iBUG, Imperial "
        "College London; research use only",
        "pose calibration: Basel Face Model keypoint fits of those 991 faces (3DDFA bfm_subset): "
        "BFM terms; academic, non-commercial",
        "3d offsets: 16 AFLW2000-3D subset fits (AFLW terms: non-commercial research) and one "
        "300W-LP sample (300-W terms: research use)",
    ],
    "licence": "non-commercial research use (the terms of LFW, 300-W, AFLW and the BFM)",
    "landmarks": "iBUG-68 in two definitions: '3d' = AFLW2000-3D pt3d_68 (points fixed to the "
    "head: the keypoint head plus the 3d offsets); '2d' = 300-W human clicks (the jaw on the "
    "visible outline, refined on the photo by the 2D refiner)",
    "held_out": {
        "300-W, 216 held-out faces, 2d + refiner, tight box: inter-ocular NME %": 3.45,
        "300-W, 216 held-out faces, 2d + refiner, detector path: inter-ocular NME %": 3.49,
        "aflw_val, 2,001 AFLW crops, 3d + offsets, protocol crop: NME % (mean of 3 bins)": 4.64,
        "aflw_val, 2,001 AFLW crops, 3d + offsets, detector path: NME % (mean of 3 bins)": 4.84,
    },
}


def _finish(out: Path) -> tuple[Path, Path]:
    sums = write_checksums()
    verify_bundled()
    load_model(out)
    return out, sums


def export_default(checkpoint: Path, out: Path | None = None) -> tuple[Path, Path]:
    """Write the fp16 weights of ``checkpoint`` as the shipped model (no refiner, no offsets:
    they were fitted for other weights) and SHA256SUMS; returns both paths. WeightsError when
    the checkpoint, or the file read back, is unusable."""
    model, meta = load_cascade(checkpoint)
    out = Path(out) if out is not None else default_weights_path()
    save_model(out, model, None, None, {**meta, **SHIPPED_META}, half=True)
    return _finish(out)


def repack_default(out: Path | None = None) -> tuple[Path, Path]:
    """Rewrite the shipped model as one file with SHIPPED_META, keeping its parts; an
    old-format file's companions are removed once they are inside."""
    out = Path(out) if out is not None else default_weights_path()
    companions = load_model(out).companions
    update_model(out, out, meta=SHIPPED_META)
    for path in companions:
        path.unlink()
    return _finish(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, nargs="?", help="a training checkpoint")
    parser.add_argument("--repack", action="store_true", help="rewrite the shipped model")
    args = parser.parse_args()
    if args.repack == (args.checkpoint is not None):
        parser.error("give a checkpoint or --repack")
    out, sums = repack_default() if args.repack else export_default(args.checkpoint)
    identity = load_model(out).identity
    print(
        f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB; {identity.label()}; parts "
        f"{', '.join(identity.parts)}) and {sums}"
    )


if __name__ == "__main__":
    main()

"""Copy a training checkpoint into resources/models/mtface_default.pt (fp16) with its embedded
checksum, refresh resources/SHA256SUMS, and load the result back as mtface will.

Usage: python tools/export_default_model.py runs/default/best.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mtface.core.checkpoint import default_weights_path, load_cascade, save_cascade
from mtface.core.weights import verify_bundled, write_checksums


def export_default(checkpoint: Path, out: Path | None = None) -> tuple[Path, Path]:
    """Write the fp16 weights (checksum inside) and SHA256SUMS; returns both paths. Raises
    WeightsError when the checkpoint, or the written file read back, is unusable."""
    model, meta = load_cascade(checkpoint)
    out = Path(out) if out is not None else default_weights_path()
    save_cascade(model, out, meta, half=True)
    sums = write_checksums()
    verify_bundled()
    load_cascade(out)
    return out, sums


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    args = parser.parse_args()
    out, sums = export_default(args.checkpoint)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, checksum inside) and {sums}")


if __name__ == "__main__":
    main()

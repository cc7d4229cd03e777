"""Copy a training checkpoint into resources/models/mtface_default.pt (fp16) and refresh
resources/SHA256SUMS.

Usage: python tools/export_default_model.py runs/default/best.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mtface.core.checkpoint import default_weights_path, load_cascade, save_cascade
from mtface.core.weights import write_checksums


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    args = parser.parse_args()
    model, meta = load_cascade(args.checkpoint)
    out = default_weights_path()
    save_cascade(model, out, meta, half=True)
    sums = write_checksums()
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and {sums}")


if __name__ == "__main__":
    main()

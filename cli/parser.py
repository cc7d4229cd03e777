"""The ``mtface`` command line's parser: every sub-command, its options and their help. The
commands themselves run in cli/main.py (the composition root)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from mtface.cli.arg_types import fraction, output_folder, positive_int, shard


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="reconstruct the faces of images or folders")
    p.add_argument("inputs", nargs="+", type=Path, help="image files and/or folders")
    p.add_argument("--out", type=output_folder, required=True, help="output folder")
    _add_batch(p)
    p.add_argument(
        "--boxes",
        type=Path,
        help="JSON or CSV of image name -> x0,y0,x1,y1 boxes; skips the detector",
    )
    _add_weights(p)
    p.add_argument("--overlay", action="store_true", help="also write an overlay PNG")
    p.add_argument("--mesh-format", choices=("obj", "ply"), default="obj")
    p.add_argument("--flip-test", action="store_true", help="average with the mirrored image")
    _add_face_search(p)
    p.add_argument(
        "--no-refine",
        action="store_true",
        help="one pass on the first crop (no re-crop from the landmarks)",
    )
    p.add_argument(
        "--box-kind",
        choices=("detector", "landmarks"),
        default="detector",
        help="what --boxes are: loose face-detector boxes (default) or tight boxes "
        "around the 68 landmarks (datasets, annotation tools); landmarks + "
        "--no-refine is exactly the crop of `mtface evaluate`",
    )
    _add_landmarks(p)


def _add_batch(p: argparse.ArgumentParser) -> None:
    """--workers / --shard of predict and annotate (core/commands/batch.py)."""
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="worker processes, each with its own copy of the model (default 1)",
    )
    p.add_argument(
        "--shard",
        type=shard,
        metavar="K/N",
        help="process only the K-th of N parts (1-based) of the images sorted by name: N "
        "machines with K = 1..N cover every image once, with disjoint outputs",
    )


def _model_file(text: str) -> Path:
    """``--weights``: a model file that exists (its content is checked when it is loaded)."""
    from mtface.core.model_file import model_path_problem

    problem = model_path_problem(Path(text))
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return Path(text)


def _add_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--weights",
        type=_model_file,
        metavar="MODEL.pt",
        help="the model file (default: the shipped model; `mtface model info` describes one)",
    )


def _add_landmarks(p: argparse.ArgumentParser) -> None:
    """--landmarks of predict and annotate: the definition written (3d unless asked)."""
    p.add_argument(
        "--landmarks",
        choices=("3d", "2d"),
        default="3d",
        help="3d: points fixed to the 3D head, the method's (default); 2d: as people "
        "annotate photos (300-W style), the jaw on the visible outline",
    )


def _add_face_search(p: argparse.ArgumentParser) -> None:
    """How predict and annotate look for faces beyond the default search."""
    p.add_argument(
        "--small-faces",
        action="store_true",
        help="also find faces under about 1/11 of the image's longer side when larger ones "
        "are present (the detector's fine search on every image: slower)",
    )
    p.add_argument(
        "--any-rotation",
        action="store_true",
        help="also try each face the model trusts little turned a quarter either way (photos "
        "taken sideways without an EXIF orientation, people lying down whose tilt the "
        "detector misses); up to two more passes for such faces",
    )


def _add_annotate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("annotate", help="pre-annotate images for correction in the studio")
    p.add_argument("inputs", nargs="+", type=Path, help="image files and/or folders")
    p.add_argument("--format", choices=("labelme", "coco", "csv", "pts"), default="labelme")
    p.add_argument(
        "--out", type=output_folder, help="folder for the files (default: beside each image)"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing annotation files (never files with a person's corrections)",
    )
    _add_batch(p)
    _add_face_search(p)
    _add_landmarks(p)
    _add_weights(p)


def _add_benchmark(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("benchmark", help="speed of each step (medians), at 1 and 2 threads")
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--image", type=Path, help="image to time (default: the bundled sample)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    _add_weights(p)


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="build training data (teacher labels, large-pose synthesis)")
    dsub = p.add_subparsers(dest="data_command", required=True)
    lab = dsub.add_parser("label", help="label a folder of photos with the teacher")
    lab.add_argument("--images", type=Path, required=True)
    lab.add_argument("--out", type=output_folder, required=True)
    lab.add_argument("--licence", required=True, help="the photos' licence, for provenance")
    lab.add_argument(
        "--remove-overlays",
        action="store_true",
        help="inpaint drawn green boxes/dots first (the shared LFW copy has them)",
    )
    lab.add_argument("--limit", type=positive_int)
    syn = dsub.add_parser("synthesize", help="rotate labelled faces to large poses")
    syn.add_argument("--labels", type=Path, required=True)
    syn.add_argument("--out", type=output_folder, required=True)
    syn.add_argument(
        "--split",
        choices=("train", "val", "all"),
        default="train",
        help="identity split of the labels to use",
    )
    syn.add_argument(
        "--val-fraction",
        type=fraction,
        help="validation share of the identity split (default: the label folder's own, else 0.1)",
    )
    syn.add_argument("--variants", type=positive_int, default=8)
    syn.add_argument("--seed", type=int, default=0)
    imp = dsub.add_parser(
        "import-3dmm",
        help="a 3DMM-fitted set (300W-LP: jpg + mat) as "
        "training data, dense labels from the BFM bases",
    )
    imp.add_argument("--images", type=Path, required=True, help="folder of .jpg + .mat pairs")
    imp.add_argument(
        "--bfm",
        type=Path,
        required=True,
        help="BFM folder (3DDFA bfm_subset: Model_PAF.pkl, u_base.txt, ...)",
    )
    imp.add_argument("--out", type=output_folder, required=True)
    imp.add_argument(
        "--licence",
        default="300W-LP: research use only",
        help="the photos' licence, for provenance",
    )
    imp.add_argument("--limit", type=positive_int)
    ann = dsub.add_parser(
        "import-annotations",
        help="folders of images with human 68-point "
        "annotations (.pts, labelme, COCO, CSV) as training labels",
    )
    ann.add_argument(
        "--images",
        type=Path,
        nargs="+",
        required=True,
        help="folders of images with an annotation file beside each",
    )
    ann.add_argument("--out", type=output_folder, required=True, help="label folder to write")
    ann.add_argument("--licence", required=True, help="the photos' licence, for provenance")
    ann.add_argument(
        "--mesh-from",
        choices=("teacher", "model"),
        default="model",
        help="depth and dense shape from mtface's own model (default; nothing else to "
        "install) or from the teacher (needs mediapipe; the model where it finds no face)",
    )
    ann.add_argument("--weights", type=Path, help="model weights for --mesh-from model")
    ann.add_argument(
        "--val-fraction",
        type=fraction,
        default=0.2,
        help="share of photos kept for validation (listed in OUT/val.txt)",
    )
    ann.add_argument("--limit", type=positive_int)
    fit = dsub.add_parser(
        "fit-refiner",
        help="fit a model's 2D landmark refiner on a label folder's training photos (ADR 11)",
    )
    fit.add_argument(
        "--labels", type=Path, required=True, help="from `mtface data import-annotations`"
    )
    _add_fitted_for_weights(fit, "2D refiner")
    fit.add_argument("--stages", type=int, default=2, help="descent steps")
    fit.add_argument("--ridge", type=float, default=1000.0, help="ridge penalty")
    fit.add_argument(
        "--force",
        action="store_true",
        help="write the refiner even when it makes the held-out error worse",
    )
    off = dsub.add_parser(
        "fit-offsets",
        help="fit a model's 3d landmark offsets on 3DMM-fitted photos (.jpg + .mat; ADR 15)",
    )
    off.add_argument("--fits", type=Path, nargs="+", required=True, help="folders of photos")
    off.add_argument(
        "--bfm", type=Path, help="BFM bases (3DDFA layout), for .mat files without pt3d_68"
    )
    _add_fitted_for_weights(off, "3d offsets")
    grid = dsub.add_parser("preview", help="a PNG grid of synthetic samples with labels")
    grid.add_argument("--data", type=Path, required=True)
    grid.add_argument("--out", type=Path, required=True)
    grid.add_argument("--count", type=int, default=24)
    grid.add_argument("--seed", type=int, default=0, help="which samples are drawn")


def _add_fitted_for_weights(p: argparse.ArgumentParser, what: str) -> None:
    """--weights / --out / --overwrite / --replace-bundled of a part fitted for a model and
    written into its model file (ADR 20)."""
    _add_weights(p)
    p.add_argument(
        "--out",
        type=Path,
        help=f"write a new model file (the model with this {what}) instead of changing --weights",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace the model's existing {what}, or an existing --out file",
    )
    p.add_argument(
        "--replace-bundled",
        action="store_true",
        help=f"write the {what} into the shipped model and refresh SHA256SUMS",
    )


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the cascade from a config file")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--out-dir", help="override the config's out_dir")
    p.add_argument("--epochs", type=int)
    p.add_argument("--resume", action="store_true", help="continue from out_dir/last.pt")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in out_dir (without it, such an out_dir is refused)",
    )


def _add_finetune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="your own model from folders of annotated photos, in one command and one file",
        description="Fine-tune the model on folders of photos with 68-point annotations "
        "(.pts, labelme, COCO, CSV) within a time budget and write one model file that "
        "reproduces your points (docs/training.md). Ctrl-C keeps the work in OUT.work; the "
        "same command continues it.",
    )
    p.add_argument("folders", nargs="+", type=Path, metavar="FOLDER", help="annotated photos")
    p.add_argument("--out", type=Path, required=True, help="the model file to write (.pt)")
    p.add_argument(
        "--from", dest="from_weights", type=Path, help="start from these weights (default: shipped)"
    )
    p.add_argument(
        "--minutes", type=float, default=20.0, help="time budget for everything (default 20)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--restart", action="store_true", help="discard the work of an earlier run")
    p.add_argument(
        "--bfm", type=Path, help="Basel Face Model folder (3DDFA layout): calibrate the pitch"
    )
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads (default: all cores but the one that loads the training samples; "
        "1 on a busy machine)",
    )
    p.add_argument("--max-steps", type=int, help=argparse.SUPPRESS)  # tests


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="AFLW2000-3D / AFLW benchmarks as in the method's table")
    p.add_argument("--aflw2000", type=Path, help="folder of AFLW2000-3D images + .mat")
    p.add_argument(
        "--aflw2000-protocol",
        type=Path,
        help="folder with AFLW2000-3D.pts68.npy, -Reannotated, pose files "
        "(rows follow the sorted 2000 names)",
    )
    p.add_argument("--aflw-val", type=Path, help="folder of AFLW crops + labels.npz")
    p.add_argument(
        "--pts",
        type=Path,
        nargs="+",
        metavar="DIR",
        help="folders of images with 68-point annotations beside them (.pts, "
        "labelme, COCO, CSV): inter-ocular and box NME, per region, CED",
    )
    p.add_argument(
        "--subset",
        type=Path,
        help="with --pts: score only the annotation files this list names (e.g. "
        "the val.txt of `mtface data import-annotations`)",
    )
    p.add_argument(
        "--landmarks",
        choices=("3d", "2d"),
        help="landmark definition (default: 3d for AFLW2000-3D and AFLW, whose labels are "
        "3D fits or the clicks they were fitted to (ADR 15); 2d for --pts, 300-W-style clicks)",
    )
    _add_weights(p)
    p.add_argument(
        "--crop",
        choices=("gt", "detector"),
        default="gt",
        help="gt: the protocol crop from the ground-truth landmarks (one pass); "
        "detector: the bundled detector, as `mtface predict` (misses per bin)",
    )
    p.add_argument(
        "--flip-test",
        action="store_true",
        help="average with the mirrored crop (as `mtface predict --flip-test`)",
    )
    p.add_argument("--out", type=output_folder, help="folder for the CSV and the CED PNG")


#: The sub-commands; any other first argument is an image for the studio (``mtface IMAGE``).
COMMANDS = (
    "predict",
    "annotate",
    "benchmark",
    "data",
    "train",
    "finetune",
    "evaluate",
    "export",
    "live",
    "studio",
    "model",
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mtface")
    except PackageNotFoundError:
        return "(not installed)"


class _Parser(argparse.ArgumentParser):
    """argparse with the command line's one error line: usage, then ``error: ...`` (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mtface",
        description="Large-pose face alignment by 3D shape reconstruction. "
        "Without a command, opens the studio.",
    )
    parser.add_argument("--version", action="version", version=f"mtface {_version()}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error (anywhere on the command line)",
    )
    sub = parser.add_subparsers(dest="command")
    _add_predict(sub)
    _add_annotate(sub)
    _add_benchmark(sub)
    _add_data(sub)
    _add_train(sub)
    _add_finetune(sub)
    _add_evaluate(sub)
    export = sub.add_parser("export", help="export the cascade (ONNX)")
    export.add_argument("--onnx", type=Path, required=True, help="output .onnx file")
    _add_weights(export)
    live = sub.add_parser("live", help="the studio in live mode: webcam or video file")
    live.add_argument("--source", default="0", help="camera index (default 0) or a video file")
    live.add_argument(
        "--benchmark",
        action="store_true",
        help="run every frame of a video through the live path and print fps and latency",
    )
    live.add_argument("--no-smoothing", action="store_true")
    live.add_argument("--record", type=Path, help="write the landmarks of the session to CSV")
    _add_weights(live)
    studio = sub.add_parser("studio", help="open the desktop studio (the default)")
    studio.add_argument("paths", nargs="*", type=Path)
    studio.add_argument(
        "--landmarks",
        choices=("3d", "2d"),
        default="3d",
        help="landmark definition shown first (View menu / J switches it)",
    )
    _add_weights(studio)
    _add_model(sub)
    return parser


def _add_model(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="make one model file of a model, or describe one")
    msub = p.add_subparsers(dest="model_command", required=True)
    pack = msub.add_parser(
        "pack",
        help="one model file (weights, 2D refiner, 3d offsets, metadata) of an old-format "
        "weights file and the files beside it, or of a model file",
    )
    pack.add_argument("weights", type=_model_file, help="weights or model file (.pt)")
    pack.add_argument("--out", type=Path, required=True, help="the model file to write (.pt)")
    pack.add_argument("--name", help="the model's name (default: kept, else the file's stem)")
    pack.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    pack.add_argument(
        "--replace-bundled",
        action="store_true",
        help="write into resources/ (the shipped model) and refresh SHA256SUMS",
    )
    info = msub.add_parser("info", help="name, SHA-256, parts and metadata of a model file")
    info.add_argument(
        "model", nargs="?", type=_model_file, help="model file (default: the shipped model)"
    )
    info.add_argument("--json", action="store_true", help="print JSON")

"""The ``mtface`` command line. With no sub-command it opens the studio (the GUI)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="reconstruct the faces of images or folders")
    p.add_argument("inputs", nargs="+", type=Path, help="image files and/or folders")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--boxes", type=Path, help="JSON or CSV of image name -> x0,y0,x1,y1 "
                   "boxes; skips the detector")
    p.add_argument("--weights", type=Path, help="cascade weights (default: the shipped model)")
    p.add_argument("--overlay", action="store_true", help="also write an overlay PNG")
    p.add_argument("--mesh-format", choices=("obj", "ply"), default="obj")
    p.add_argument("--flip-test", action="store_true", help="average with the mirrored image")
    p.add_argument("--no-refine", action="store_true",
                   help="one pass on the detector crop (no re-crop from the landmarks)")


def _add_annotate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("annotate", help="pre-annotate images for correction in the studio")
    p.add_argument("inputs", nargs="+", type=Path, help="image files and/or folders")
    p.add_argument("--format", choices=("labelme", "coco", "csv", "pts"), default="labelme")
    p.add_argument("--out", type=Path, help="folder for the files (default: beside each image)")
    p.add_argument("--overwrite", action="store_true", help="replace existing annotation files")
    p.add_argument("--weights", type=Path)


def _add_benchmark(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("benchmark", help="speed of each step (medians), at 1 and 2 threads")
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--image", type=Path, help="image to time (default: the bundled sample)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="build training data (teacher labels, large-pose synthesis)")
    dsub = p.add_subparsers(dest="data_command", required=True)
    lab = dsub.add_parser("label", help="label a folder of photos with the teacher")
    lab.add_argument("--images", type=Path, required=True)
    lab.add_argument("--out", type=Path, required=True)
    lab.add_argument("--licence", required=True, help="the photos' licence, for provenance")
    lab.add_argument("--remove-overlays", action="store_true",
                     help="inpaint drawn green boxes/dots first (the shared LFW copy has them)")
    lab.add_argument("--limit", type=int)
    syn = dsub.add_parser("synthesize", help="rotate labelled faces to large poses")
    syn.add_argument("--labels", type=Path, required=True)
    syn.add_argument("--out", type=Path, required=True)
    syn.add_argument("--split", choices=("train", "val", "all"), default="train",
                     help="identity split of the labels to use")
    syn.add_argument("--val-fraction", type=float, default=0.1)
    syn.add_argument("--variants", type=int, default=8)
    syn.add_argument("--seed", type=int, default=0)
    imp = dsub.add_parser("import-3dmm", help="a 3DMM-fitted set (300W-LP: jpg + mat) as "
                          "training data, dense labels from the BFM bases")
    imp.add_argument("--images", type=Path, required=True, help="folder of .jpg + .mat pairs")
    imp.add_argument("--bfm", type=Path, required=True,
                     help="BFM folder (3DDFA bfm_subset: Model_PAF.pkl, u_base.txt, ...)")
    imp.add_argument("--out", type=Path, required=True)
    imp.add_argument("--licence", default="300W-LP: research use only",
                     help="the photos' licence, for provenance")
    imp.add_argument("--limit", type=int)
    grid = dsub.add_parser("preview", help="a PNG grid of synthetic samples with labels")
    grid.add_argument("--data", type=Path, required=True)
    grid.add_argument("--out", type=Path, required=True)
    grid.add_argument("--count", type=int, default=24)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the cascade from a config file")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--out-dir", help="override the config's out_dir")
    p.add_argument("--epochs", type=int)
    p.add_argument("--resume", action="store_true", help="continue from out_dir/last.pt")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="AFLW2000-3D / AFLW benchmarks as in the method's table")
    p.add_argument("--aflw2000", type=Path, help="folder of AFLW2000-3D images + .mat")
    p.add_argument("--aflw2000-protocol", type=Path,
                   help="folder with AFLW2000-3D.pts68.npy, -Reannotated, pose files "
                        "(rows follow the sorted 2000 names)")
    p.add_argument("--aflw-val", type=Path, help="folder of AFLW crops + labels.npz")
    p.add_argument("--weights", type=Path)
    p.add_argument("--crop", choices=("gt", "detector"), default="gt")
    p.add_argument("--flip-test", action="store_true",
                   help="average with the mirrored crop (as `mtface predict --flip-test`)")
    p.add_argument("--out", type=Path, help="folder for the CSV and the CED PNG")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtface", description="Large-pose face alignment by 3D shape reconstruction. "
        "Without a command, opens the studio.")
    parser.add_argument("--version", action="version", version="mtface 0.1.0")
    sub = parser.add_subparsers(dest="command")
    _add_predict(sub)
    _add_annotate(sub)
    _add_benchmark(sub)
    _add_data(sub)
    _add_train(sub)
    _add_evaluate(sub)
    export = sub.add_parser("export", help="export the cascade (ONNX)")
    export.add_argument("--onnx", type=Path, required=True, help="output .onnx file")
    export.add_argument("--weights", type=Path)
    live = sub.add_parser("live", help="the studio in live mode: webcam or video file")
    live.add_argument("--source", default="0", help="camera index (default 0) or a video file")
    live.add_argument("--benchmark", action="store_true",
                      help="run every frame of a video through the live path and print fps "
                           "and latency")
    live.add_argument("--no-smoothing", action="store_true")
    live.add_argument("--record", type=Path, help="write the landmarks of the session to CSV")
    studio = sub.add_parser("studio", help="open the desktop studio (the default)")
    studio.add_argument("paths", nargs="*", type=Path)
    return parser


def _cmd_predict(args: argparse.Namespace) -> int:
    from mtface.core.checkpoint import default_weights_path  # noqa: PLC0415
    from mtface.core.commands.predict import BoxesFileError, read_boxes, run_predict
    from mtface.core.predictor import Predictor
    from mtface.core.weights import WeightsError, sha256_of

    try:
        boxes = read_boxes(args.boxes) if args.boxes else None
        predictor = Predictor.from_weights(args.weights, refine_crop=not args.no_refine,
                                           flip_test=args.flip_test)
    except (BoxesFileError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    weights = args.weights or default_weights_path()
    info = {"weights": Path(weights).name, "sha256": sha256_of(weights)[:16]}
    done = run_predict(args.inputs, args.out, predictor, boxes, args.overlay, args.mesh_format,
                       info)
    print(f"{done} image(s) processed -> {args.out}", file=sys.stderr)
    return 0 if done else 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = ["--profile-startup"] if "--profile-startup" in argv else []
    argv = [a for a in argv if a != "--profile-startup"]
    if argv and not argv[0].startswith("-") and argv[0] not in parser._subparsers._group_actions[0].choices:  # noqa: SLF001
        argv = ["studio", *argv]  # ``mtface IMAGE`` opens the image in the studio
    args = parser.parse_args(argv)
    if args.command in (None, "studio"):
        from mtface.gui.app import main as studio_main  # noqa: PLC0415

        return studio_main([str(p) for p in getattr(args, "paths", [])] + extra)
    if args.command == "predict":
        return _cmd_predict(args)
    if args.command == "export":
        from mtface.core.commands.export import run_export  # noqa: PLC0415

        return run_export(args.onnx, args.weights)
    if args.command == "live":
        from mtface.gui.app import live_main  # noqa: PLC0415

        return live_main(args.source, args.benchmark, not args.no_smoothing, args.record)
    if args.command == "annotate":
        from mtface.core.commands.annotate import run_annotate  # noqa: PLC0415
        from mtface.core.predictor import Predictor  # noqa: PLC0415
        from mtface.core.weights import WeightsError  # noqa: PLC0415

        try:
            predictor = Predictor.from_weights(args.weights)
        except WeightsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        done, seen = run_annotate(args.inputs, predictor, args.format, args.out,
                                  args.overwrite)
        print(f"annotated {done} of {seen} image(s)", file=sys.stderr)
        return 0 if done else 1
    if args.command == "benchmark":
        from mtface.core.commands.benchmark import run_benchmark  # noqa: PLC0415

        return run_benchmark(args.repeats, args.threads, args.image)
    if args.command == "data":
        from mtface.core.commands.data import run_data  # noqa: PLC0415

        return run_data(args)
    if args.command == "train":
        from mtface.core.training.trainer import TrainConfig, train  # noqa: PLC0415

        config = TrainConfig.from_file(args.config, {"out_dir": args.out_dir,
                                                     "epochs": args.epochs})
        train(config, resume=args.resume)
        return 0
    if args.command == "evaluate":
        from mtface.core.commands.evaluate import run_evaluate  # noqa: PLC0415

        return run_evaluate(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""The ``mtface`` command line (the composition root: the Qt-free core's commands and the
studio). With no sub-command it opens the studio (the GUI). The options are in cli/parser.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mtface.cli.parser import COMMANDS, build_parser

if TYPE_CHECKING:
    from mtface.core.commands.batch import PredictorSpec
    from mtface.core.detection import Detector


def _predictor_spec(args: argparse.Namespace, **options: object) -> PredictorSpec:
    """How each --workers process builds the command's predictor."""
    from mtface.core.commands.batch import PredictorSpec

    return PredictorSpec(args.weights, dict(options), small_faces=args.small_faces)


def _rotation_options(args: argparse.Namespace) -> dict[str, object]:
    """The predictor options of ``--any-rotation`` (ADR 35)."""
    if not args.any_rotation:
        return {}
    from mtface.core.crop_search import RETRY_TURNS

    return {"retry_turns": RETRY_TURNS}


def _detector_for(args: argparse.Namespace) -> Detector | None:
    """The detector the command asks for; None: the predictor's default."""
    if not args.small_faces:
        return None
    from mtface.core.detection.yunet import default_detector

    return default_detector(small_faces=True)


def _cmd_predict(args: argparse.Namespace) -> int:
    from mtface.core.checkpoint import default_weights_path
    from mtface.core.commands.predict import BoxesFileError, read_boxes, run_predict
    from mtface.core.predictor import Predictor
    from mtface.core.weights import WeightsError

    try:
        boxes = read_boxes(args.boxes) if args.boxes else None
        options = {
            "refine_crop": not args.no_refine,
            "flip_test": args.flip_test,
            "landmarks": args.landmarks,
            "box_kind": args.box_kind,
            **_rotation_options(args),
        }
        predictor = Predictor.from_weights(args.weights, detector=_detector_for(args), **options)
    except (BoxesFileError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    weights = args.weights or default_weights_path()
    info = {**predictor.model_identity.to_dict(), "file": Path(weights).name}
    summary = run_predict(
        args.inputs,
        args.out,
        predictor,
        boxes,
        args.overlay,
        args.mesh_format,
        info,
        workers=args.workers,
        shard=args.shard,
        spec=_predictor_spec(args, **options),
    )
    if summary.error:
        print(f"error: {summary.error}", file=sys.stderr)
    print(
        f"{summary.processed} of {summary.seen} image(s) processed -> {args.out}", file=sys.stderr
    )
    return summary.exit_code


def main(argv: list[str] | None = None) -> int:
    """Run a command. Every failure ends in a one-line ``error:`` message and a non-zero exit
    code (core/errors.py; Ctrl-C: 130); the traceback only with ``--debug``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        return _main(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        from mtface.core.errors import describe_error

        report = describe_error(exc)
        print(f"error: {report.message}", file=sys.stderr)
        return report.exit_code


def _main(argv: list[str]) -> int:
    parser = build_parser()
    extra = ["--profile-startup"] if "--profile-startup" in argv else []
    argv = [a for a in argv if a != "--profile-startup"]
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        argv = ["studio", *argv]  # ``mtface IMAGE`` opens the image in the studio
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a bad option (error: ... printed, 2), --help or --version (0)
        return exc.code if isinstance(exc.code, int) else 0
    if args.command in (None, "studio"):
        from mtface.gui.app import main as studio_main

        extra += [f"--landmarks={getattr(args, 'landmarks', '3d')}"]
        if getattr(args, "weights", None) is not None:
            extra += [f"--weights={args.weights}"]
        return studio_main([str(p) for p in getattr(args, "paths", [])] + extra)
    if args.command != "live":
        from mtface.core.weights import verify_bundled

        verify_bundled()  # a corrupt bundled detector / topology / model: one clear message
    if args.command == "predict":
        return _cmd_predict(args)
    if args.command == "export":
        from mtface.core.commands.export import run_export

        return run_export(args.onnx, args.weights)
    if args.command == "live":
        from mtface.gui.app import live_main

        return live_main(
            args.source, args.benchmark, not args.no_smoothing, args.record, args.weights
        )
    if args.command == "annotate":
        from mtface.core.commands.annotate import run_annotate
        from mtface.core.predictor import Predictor
        from mtface.core.weights import WeightsError

        try:
            options = {"landmarks": args.landmarks, **_rotation_options(args)}
            predictor = Predictor.from_weights(
                args.weights, detector=_detector_for(args), **options
            )
        except WeightsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        summary = run_annotate(
            args.inputs,
            predictor,
            args.format,
            args.out,
            args.overwrite,
            workers=args.workers,
            shard=args.shard,
            spec=_predictor_spec(args, **options),
        )
        if summary.error:
            print(f"error: {summary.error}", file=sys.stderr)
        print(summary.line(), file=sys.stderr)
        return summary.exit_code
    if args.command == "benchmark":
        from mtface.core.commands.benchmark import run_benchmark

        return run_benchmark(args.repeats, args.threads, args.image, args.weights)
    if args.command == "data":
        from mtface.core.commands.data import run_data

        return run_data(args)
    if args.command == "train":
        from mtface.core.training.trainer import TrainConfig, train

        config = TrainConfig.from_file(
            args.config, {"out_dir": args.out_dir, "epochs": args.epochs}
        )
        train(config, resume=args.resume, overwrite=args.overwrite)
        return 0
    if args.command == "finetune":
        from mtface.core.commands.finetune import options_from_args, run_finetune

        return run_finetune(options_from_args(args))
    if args.command == "evaluate":
        from mtface.core.commands.evaluate import run_evaluate

        return run_evaluate(args)
    if args.command == "model":
        from mtface.core.commands.model import run_model

        return run_model(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""``mtface finetune FOLDER... --out MODEL.pt``: your own model from your annotated photos.

One command does what docs/training.md describes step by step, within one time budget
(``--minutes``, covering everything from reading the folders to writing the file):

1. check every annotation and photo (core/training/finetune_data.py; bad input stops the run
   here with exit code 2, before any long work);
2. import them as training labels with meshes from the starting model
   (``mtface data import-annotations --mesh-from model``; no teacher needed), holding out a
   fifth of the photos (at least one) by a hash of the photo's name;
3. score the starting model on the held-out faces with both landmark definitions;
4. make large-pose views of the training faces (``mtface data synthesize``);
5. train stage 1, then stage 2, from the starting model (core/training/finetune_loop.py) for
   the time left after a reserve for step 6;
6. fit the 2D refiner on the training faces and keep it only where it lowers the held-out
   error; with ``--bfm``, calibrate the pitch on the training faces (ADR 14);
7. write ONE model file whose metadata says that the user's points are the convention it
   reproduces (its 2d landmark reading), what it was trained on and its held-out figures.

Everything in between lives in a work folder beside the output (``MODEL.pt.work``): Ctrl-C
saves the training state there and the same command continues where it stopped; the folder is
removed when the model is written.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mtface.core.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED
from mtface.core.formats.atomic import atomic_write_json
from mtface.core.training.finetune_data import (
    FinetuneInputError,
    InputScan,
    held_out_fraction,
    held_out_scores,
    scan_inputs,
)
from mtface.core.training.finetune_model import (
    FinetuneResult,
    FittedParts,
    write_finetuned_model,
)

#: The reserve for step 6, in the times measured earlier in the run: ``FIT_PER_IMPORT`` x the
#: import's time (the refiner fit predicts every face, reads descriptors around the points,
#: fits and refines every face again: 118 s for 1,207 faces where predicting alone took 0.026 s
#: a face, about 4 imports; measured with 1 thread at nice 15 on the 2 busy cores), half of
#: step 3's two-definition scoring (the written file is scored once more) and ``FIT_RESERVE_S``
#: (loading, writing). On the benchmark (docs/training.md), 1.5 imports + 30 s ended a
#: 20-minute run at 20.3 minutes; 1.5 imports + half the scoring + 45 s ended one at 20.0 and
#: a 5-minute run at 5.8.
FIT_PER_IMPORT = 4.5
FIT_RESERVE_S = 30.0
#: Large-pose views per training face (the original included), at most; and the share of the
#: budget the views may take.
VARIANTS = 8
SYNTHESIS_SHARE = 0.2
LEARNING_RATE = 3e-4
BATCH_SIZE = 32


@dataclass(frozen=True)
class FinetuneOptions:
    """The command's options; ``max_steps`` (hidden) caps the training steps (tests)."""

    folders: list[Path]
    out: Path
    from_weights: Path | None = None
    minutes: float = 20.0
    overwrite: bool = False
    restart: bool = False
    bfm: Path | None = None
    threads: int | None = None
    max_steps: int | None = None


class Budget:
    """The time budget: ``total_s`` seconds, ``spent_before_s`` of them in earlier runs, this
    run's counted from ``start`` (``time.monotonic()``; default: now)."""

    def __init__(self, total_s: float, spent_before_s: float, start: float | None = None) -> None:
        self.total_s = total_s
        self.spent_before_s = spent_before_s
        self.start = time.monotonic() if start is None else start

    def spent(self) -> float:
        return self.spent_before_s + time.monotonic() - self.start

    def left(self) -> float:
        return self.total_s - self.spent()


def work_folder(out: Path) -> Path:
    """Where a run keeps its intermediate state: ``MODEL.pt`` -> ``MODEL.pt.work``."""
    return out.with_name(out.name + ".work")


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def use_threads(requested: int | None) -> int:
    """Set the threads of torch and OpenCV: ``requested``, else every core but one (the
    training's sample loader is a process of its own and takes that core), or one when the
    machine is already busy (a load average of at least the core count), where threads
    that wait for each other cost more than they give. Measured on the 2-core development
    machine with other jobs at nice 15 (docs/training.md, "Fine-tuning benchmark"): 2 threads
    trained 954 steps of 32 in 20 minutes (about 0.9 s a step), 1 thread about 0.2 s a step."""
    import os

    import cv2
    import torch

    cores = os.cpu_count() or 1
    threads = requested or (1 if os.getloadavg()[0] >= cores else max(cores - 1, 1))
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    return threads


def check_options(options: FinetuneOptions) -> str | None:
    """The problem with ``options`` that stops the run before anything is read, or None."""
    from mtface.core.checkpoint import load_cascade
    from mtface.core.weights import WeightsError

    out = options.out
    if not str(out).strip() or out.name in ("", ".", ".."):
        return "--out must name a model file (e.g. --out my_model.pt)"
    if out.is_dir():
        return f"--out {out} is a folder; give a file name (e.g. {out / 'model.pt'})"
    if out.exists() and not options.overwrite:
        return f"{out} exists; give --overwrite to replace it, or another --out"
    if not options.minutes > 0:
        return f"--minutes must be above 0, not {options.minutes:g}"
    if options.max_steps is not None and options.max_steps < 1:
        return "--max-steps must be at least 1"
    if options.threads is not None and options.threads < 1:
        return "--threads must be at least 1"
    if options.bfm is not None and not (options.bfm / "param_whitening.pkl").is_file():
        return f"--bfm {options.bfm}: not a Basel Face Model folder (no param_whitening.pkl)"
    try:
        load_cascade(options.from_weights)
    except WeightsError as exc:
        return f"--from: {exc}"
    return None


def _job(options: FinetuneOptions, scan: InputScan) -> dict:
    from mtface.core.checkpoint import default_weights_path
    from mtface.core.weights import sha256_of

    weights = options.from_weights or default_weights_path()
    return {
        "folders": [str(f) for f in scan.folders],
        "from": str(Path(weights).resolve()),
        "from_sha256": sha256_of(weights),
        "faces": scan.faces,
        "images": scan.images,
    }


def _open_work(work: Path, job: dict, restart: bool) -> dict:
    """The saved state of ``work`` for ``job`` (a new one when there is none); raises
    FinetuneInputError when ``work`` holds another job and ``restart`` is not given."""
    state_file = work / "state.json"
    if state_file.is_file() and restart:
        shutil.rmtree(work)
    if state_file.is_file():
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("job") == job:
            _say(
                f"resuming the run in {work} ({state.get('spent_s', 0.0) / 60:.1f} minutes of "
                "the budget spent; give --restart to start over)"
            )
            return state
        raise FinetuneInputError(
            f"{work} holds the work of another fine-tuning run (other folders, annotations or "
            "starting model); give --restart to discard it, or another --out"
        )
    if work.exists() and any(work.iterdir()):
        raise FinetuneInputError(f"{work} exists and is not a fine-tuning work folder; remove it")
    work.mkdir(parents=True, exist_ok=True)
    return {"job": job}


def run_finetune(options: FinetuneOptions) -> int:
    """Run the command (module doc); returns the exit code."""
    started = time.monotonic()  # the budget covers reading the folders too
    problem = check_options(options)
    if problem:
        return _error(problem)
    try:
        scan = scan_inputs(options.folders)
        val_fraction = held_out_fraction(scan.identities)
        work = work_folder(options.out)
        state = _open_work(work, _job(options, scan), options.restart)
    except FinetuneInputError as exc:
        return _error(str(exc))
    threads = use_threads(options.threads)
    _say(
        f"{scan.faces} annotated faces on {scan.photos} photos under "
        f"{', '.join(map(str, scan.folders))}; work folder {work}; {threads} thread(s)"
    )
    budget = Budget(options.minutes * 60.0, float(state.get("spent_s", 0.0)), started)

    def save_state() -> None:
        state["spent_s"] = budget.spent()
        atomic_write_json(work / "state.json", state, indent=1)

    try:
        result = _phases(options, scan, val_fraction, work, state, budget, save_state)
    except KeyboardInterrupt:
        save_state()
        _say(
            f"interrupted: the work so far is kept in {work}; run the same command again to "
            "continue"
        )
        return EXIT_INTERRUPTED
    save_state()
    write_finetuned_model(result, options.out)
    # the figure of the file as written (fp16 refiner): what `mtface evaluate --pts` gives
    written = held_out_scores(options.out, work / "labels", ("2d",)).nme_io["2d"]
    if written != result.meta["held_out"]["nme_io_percent"]:
        result.meta["held_out"]["nme_io_percent"] = written
        result.meta["finetune"]["held_out_nme_io_after"]["final"] = written
        write_finetuned_model(result, options.out)
    shutil.rmtree(work, ignore_errors=True)
    _report(result, options.out, budget)
    return 0


def _phases(
    options: FinetuneOptions,
    scan: InputScan,
    val_fraction: float,
    work: Path,
    state: dict,
    budget: Budget,
    save_state: Callable[[], None],
) -> FinetuneResult:
    from mtface.core.checkpoint import load_cascade, save_cascade
    from mtface.core.data.human_labels import import_annotations
    from mtface.core.data.labels import load_labels
    from mtface.core.topology import Topology
    from mtface.core.training.finetune_loop import StepPlan, train_in_steps
    from mtface.core.training.finetune_model import fit_after_training
    from mtface.core.training.finetune_synth import synthesize_within

    labels_dir, synth_dir = work / "labels", work / "synth"
    if "imported" not in state:
        _say("1/5 importing the annotations (meshes from the starting model)")
        t0 = time.monotonic()
        report = import_annotations(
            list(scan.folders),
            labels_dir,
            "the user's own annotations (mtface finetune)",
            mesh_from="model",
            val_fraction=val_fraction,
            weights=options.from_weights,
        )
        state["imported"] = {
            "faces": report.faces,
            "skipped": report.skipped,
            "seconds": time.monotonic() - t0,
            "val_fraction": val_fraction,
        }
        save_state()
    if "before" not in state:
        _say("2/5 scoring the starting model on the held-out photos")
        t0 = time.monotonic()
        before = held_out_scores(options.from_weights, labels_dir)
        state["before"] = {
            "faces": before.faces,
            "nme_io": before.nme_io,
            "seconds": time.monotonic() - t0,
        }
        save_state()
    before_figures = state["before"]["nme_io"]
    _say(
        f"   held out: {state['before']['faces']} faces; starting model "
        + ", ".join(f"{k} {v:.2f} %" for k, v in before_figures.items())
    )
    labels = load_labels(labels_dir)
    train_labels, _ = labels.split_by_identity(state["imported"]["val_fraction"])
    if "synthesized" not in state:
        seconds = min(SYNTHESIS_SHARE * budget.total_s, 0.35 * budget.left())
        _say(
            f"3/5 large-pose views of the {len(train_labels)} training faces "
            f"(up to {VARIANTS} each, {seconds / 60:.1f} minutes at most)"
        )
        count, variants = synthesize_within(train_labels, synth_dir, VARIANTS, seconds)
        state["synthesized"] = {"samples": count, "variants": variants}
        save_state()
    topology = Topology.load()
    trained = work / "trained.pt"
    if "trained" not in state:
        if "plan" not in state:
            reserve = (
                FIT_PER_IMPORT * state["imported"]["seconds"]
                + 0.5 * state["before"].get("seconds", 0.0)
                + FIT_RESERVE_S
            )
            if options.bfm is not None:
                reserve += 0.5 * state["imported"]["seconds"]
            seconds = max(budget.left() - reserve, 0.0)
            state["plan"] = {"seconds": seconds, "max_steps": options.max_steps}
            save_state()
        plan = StepPlan(state["plan"]["seconds"], state["plan"]["max_steps"])
        _say(
            f"4/5 training for {plan.seconds / 60:.1f} minutes"
            + (f" (at most {plan.max_steps} steps)" if plan.max_steps else "")
        )
        model, _ = load_cascade(options.from_weights, topology)
        progress = train_in_steps(
            model,
            topology,
            synth_dir,
            plan,
            work / "train_state.pt",
            lr=LEARNING_RATE,
            batch_size=BATCH_SIZE,
            on_save=lambda _: save_state(),
        )
        save_cascade(model, trained, {"finetune_state": True})
        state["trained"] = {"steps": progress.total_steps}
        save_state()
    _say("5/5 fitting the 2D refiner" + (" and the pose frame" if options.bfm else ""))
    fitted = fit_after_training(trained, labels_dir, scan.root, options.bfm)
    meta = _model_meta(options, scan, state, len(train_labels), fitted)
    return FinetuneResult(model=fitted.model, refiner=fitted.refiner, meta=meta)


def _model_meta(
    options: FinetuneOptions, scan: InputScan, state: dict, train_faces: int, fitted: FittedParts
) -> dict:
    """The model file's metadata (core/model_file.py's keys, and ``finetune``: the record)."""
    from mtface.core.model_file import load_model

    start = load_model(options.from_weights).meta
    before = state["before"]["nme_io"]
    meta: dict = {
        "name": options.out.name.rsplit(".", 1)[0],
        "landmarks": "2d",
        "landmarks_note": "the user's points: this model's 2d landmarks reproduce the "
        "annotations it was fine-tuned on (mtface finetune), whatever their convention",
        "trained_on": [
            *start.get("trained_on", []),
            *(f"{f}: the user's own annotated photos" for f in scan.folders),
        ],
        "held_out": {
            "faces": state["before"]["faces"],
            "nme_io_percent": fitted.held_out["final"],
            "starting_model_nme_io_percent": before,
            "measure": "inter-ocular NME (outer eye corners) of the 2d landmarks on the "
            "protocol crop of the held-out photos' annotated points, as mtface evaluate --pts",
        },
        "finetune": {
            "folders": [str(f) for f in scan.folders],
            "faces": scan.faces,
            "photos": scan.photos,
            "imported_faces": state["imported"]["faces"],
            "training_faces": train_faces,
            "held_out_faces": state["before"]["faces"],
            "held_out_fraction": state["imported"]["val_fraction"],
            "from": state["job"]["from"],
            "from_sha256": state["job"]["from_sha256"],
            "minutes": options.minutes,
            "steps": state["trained"]["steps"],
            "samples": state["synthesized"]["samples"],
            "views_per_face": state["synthesized"]["variants"],
            "held_out_nme_io_before": before,
            "held_out_nme_io_after": fitted.held_out,
            "refiner_2d": fitted.refiner_note,
            "pose": fitted.pose_note,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        },
    }
    if fitted.pitch_offset_deg is not None:
        previous = start.get("pose_calibration") or {}
        meta["pose_calibration"] = {
            "pitch_offset_deg": float(previous.get("pitch_offset_deg", 0.0))
            + fitted.pitch_offset_deg,
            "method": "median Pose_Para pitch of BFM keypoint fits to the user's points minus "
            "the model's pitch, near-frontal training faces (ADR 14; mtface finetune --bfm)",
        }
    return meta


def _report(result: FinetuneResult, out: Path, budget: Budget) -> None:
    info = result.meta["finetune"]
    before = info["held_out_nme_io_before"]
    best_before = min(before, key=lambda k: before[k])
    after = info["held_out_nme_io_after"]
    print(
        f"held-out inter-ocular NME on {info['held_out_faces']} faces: before "
        f"{before[best_before]:.2f} % (starting model, {best_before} landmarks; "
        + ", ".join(f"{k} {v:.2f} %" for k, v in before.items())
        + f"), after {after['final']:.2f} %"
    )
    print(f"2D refiner: {info['refiner_2d']}")
    print(f"pose: {info['pose']}")
    print(
        f"wrote {out} ({info['steps']} training steps, {budget.spent() / 60:.1f} of "
        f"{budget.total_s / 60:g} minutes)"
    )
    print("use it with:")
    print(f"  mtface studio --weights {out}")
    print(f"  mtface predict IMAGES --out DIR --weights {out} --landmarks 2d")
    print(f"  mtface evaluate --pts FOLDER --weights {out}")


def options_from_args(args: object) -> FinetuneOptions:
    """The options of a parsed ``mtface finetune`` command line."""
    values = {k: getattr(args, k) for k in FinetuneOptions.__dataclass_fields__ if hasattr(args, k)}
    return FinetuneOptions(**values)

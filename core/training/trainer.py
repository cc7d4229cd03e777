"""``mtface train``: the two-stage cascade trained as the method does.

Stage 1 is trained first (``stage1_epochs``); then stage 2 learns on stage-1 outputs (its MSIF
come from stage 1's keypoints and visibility) with stage 1 frozen. Loss: the sum of Euclidean
losses over dense shape, keypoints and pose (core.model.cascade_loss); Adam, lr 1e-3 with a
cosine decay. Seeded; checkpoints every epoch (``last.pt``) and at the best validation
(``best.pt``); ``--resume`` continues from ``last.pt``. Multi-process through ``torchrun``
(DistributedDataParallel; gloo on CPU, nccl on GPUs).

A run never replaces another one silently: an ``out_dir`` that already holds a run (``last.pt``,
``best.pt``, ``history.json``) is refused unless ``--resume`` (continue it) or ``--overwrite``.
Everything that would stop the run is checked before the first epoch: the config's paths, and
a training set with fewer samples than ``batch_size`` (no step would run). Without any
validation set ``best.pt`` is the last epoch's model, and the run says so. At the end it
prints which file to use next.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from mtface.core.checkpoint import load_cascade, load_payload, save_cascade
from mtface.core.formats.atomic import atomic_write_text
from mtface.core.landmarks3d import offsets_path
from mtface.core.model import CascadeConfig, CascadeMTCNN, cascade_loss
from mtface.core.predictor import refiner_path
from mtface.core.topology import Topology
from mtface.core.training.config import ConfigError, check_config, read_config
from mtface.core.training.dataset import AugmentConfig, ConcatFaces, SyntheticFaces
from mtface.core.training.validation import validate


@dataclass
class TrainConfig:
    """Everything a run needs; read from a JSON file, every field overridable."""

    train_dir: str | list[str]  # one sample set, or several trained on together
    val_dir: str | None = None
    aflw_val_dir: str | None = None
    #: a label folder from ``mtface data import-annotations``: its validation photos are scored
    #: with the 2D landmark definition (inter-ocular NME); never trained on
    human_val_labels: str | None = None
    out_dir: str = "runs/default"
    epochs: int = 30
    stage1_epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    num_workers: int = 2
    max_steps_per_epoch: int | None = None
    val_limit: int | None = None
    model: dict = field(default_factory=dict)
    #: start from these weights (a best.pt / last.pt / shipped model of the same architecture)
    #: with a fresh schedule: fine-tuning, or a longer second run. Ignored when resuming.
    init_weights: str | None = None
    #: overrides of the augmentation's defaults (fields of ``AugmentConfig``), e.g.
    #: ``{"scale_jitter": [0.85, 1.2], "shift_jitter": 0.1}`` for crops as loose as a detector's
    augment: dict = field(default_factory=dict)

    @staticmethod
    def from_file(path: Path, overrides: dict | None = None) -> TrainConfig:
        """Read and check (core.training.config) a config; raises ConfigError."""
        return TrainConfig(**read_config(path, overrides, TrainConfig.__dataclass_fields__))


def augment_config(overrides: dict) -> AugmentConfig:
    """The default augmentation with ``overrides`` (field name -> value; lists become tuples)."""
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return AugmentConfig(**values)


def training_set(
    train_dir: str | list[str],
    topology: Topology,
    crop_size: int,
    seed: int,
    augment: AugmentConfig | None = None,
) -> SyntheticFaces | ConcatFaces:
    """The augmented training samples of one sample-set folder or of several together."""
    augment = augment or AugmentConfig()
    folders = [train_dir] if isinstance(train_dir, str) else list(train_dir)
    if not folders:
        raise ValueError("train_dir: give at least one sample-set folder")
    # each entry its own augmentation seed: a set listed twice is weighted twice, with
    # different augmentations
    sets = [
        SyntheticFaces(Path(f), topology, crop_size, augment, seed=seed + k)
        for k, f in enumerate(folders)
    ]
    return sets[0] if len(sets) == 1 else ConcatFaces(sets)


def selection_score(metrics: dict) -> float:
    """What chooses ``best.pt``: the mean of the real-face validation figures (AFLW 21-point
    NME and the human-label inter-ocular NME, whichever are configured), else the synthetic."""
    real = [metrics[k] for k in ("aflw_val_mean", "human_val_nme") if k in metrics]
    if real:
        return float(np.mean(real))
    return float(metrics.get("synthetic_val_mean", math.inf))


def _is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def _setup_distributed() -> torch.device:
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", 0))
            torch.cuda.set_device(local)
            return torch.device("cuda", local)
        return torch.device("cpu")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _stage_parameters(model: CascadeMTCNN, stage: int) -> list[torch.nn.Parameter]:
    if stage == 1:
        return list(model.stage1.parameters()) + list(model.heads1.parameters())
    return (
        list(model.stage2_patches.parameters())
        + list(model.stage2_fc.parameters())
        + list(model.heads2.parameters())
    )


def _initialise_from(model: CascadeMTCNN, path: Path, topology: Topology) -> None:
    """Copy the weights of ``path`` into ``model``; the architectures must be the same."""
    start, _ = load_cascade(path, topology)
    if start.config != model.config:
        raise ValueError(
            f"init_weights {path}: its model config {start.config} differs from "
            f"this run's {model.config}"
        )
    model.load_state_dict(start.state_dict())


#: The files of a run in its ``out_dir``; one of them present means the folder holds a run.
RUN_FILES = ("last.pt", "best.pt", "history.json")


def has_validation(config: TrainConfig) -> bool:
    """True when the config names a validation set (what chooses ``best.pt``)."""
    return bool(config.val_dir or config.aflw_val_dir or config.human_val_labels)


def _check_out_dir(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse an ``out_dir`` that holds a run unless resuming or overwriting it."""
    found = [name for name in RUN_FILES if (out_dir / name).exists()]
    if found and not (resume or overwrite):
        raise ConfigError(
            f"{out_dir} already holds a training run ({', '.join(found)}); give --resume to "
            "continue it, --overwrite to replace it, or another out_dir"
        )


def epoch_line(metrics: dict, epochs: int) -> str:
    """One readable line per epoch: its number, stage, keypoint losses, the validation means
    (NME %) and seconds so far; every figure is also in ``history.json``."""
    parts = [f"epoch {metrics['epoch']}/{epochs} (stage {metrics['stage']})"]
    running = metrics.get("train") or {}
    parts += [f"{key} {value:.4f}" for key, value in running.items() if key.endswith("kp")]
    for key, name in (
        ("synthetic_val_mean", "synthetic val NME"),
        ("aflw_val_mean", "AFLW val NME"),
        ("human_val_nme", "human val NME"),
    ):
        if isinstance(metrics.get(key), (int, float)):
            parts.append(f"{name} {metrics[key]:.2f} %")
    parts.append(f"{metrics['seconds']:.0f} s")
    return " · ".join(parts)


def _say(text: str, log: bool) -> None:
    if log and _is_main():
        print(text, file=sys.stderr, flush=True)


def train(
    config: TrainConfig, resume: bool = False, log: bool = True, overwrite: bool = False
) -> dict:
    """Run training; returns the final validation metrics. Raises ConfigError before anything
    is written for an unusable config, an ``out_dir`` holding another run (unless ``resume``
    or ``overwrite``) or a training set smaller than one batch."""
    check_config(asdict(config), TrainConfig.__dataclass_fields__)  # before anything is written
    out_dir = Path(config.out_dir)
    _check_out_dir(out_dir, resume, overwrite)
    device = _setup_distributed()
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    topology = Topology.load()
    model_config = CascadeConfig.from_dict(config.model)
    model = CascadeMTCNN(model_config, topology).to(device, memory_format=torch.channels_last)
    dataset = training_set(
        config.train_dir,
        topology,
        model_config.crop_size,
        config.seed,
        augment_config(config.augment),
    )
    sampler = DistributedSampler(dataset, seed=config.seed) if dist.is_initialized() else None
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        num_workers=config.num_workers,
        drop_last=True,
        persistent_workers=config.num_workers > 0,
        generator=torch.Generator().manual_seed(config.seed),
    )
    if len(loader) == 0:
        processes = dist.get_world_size() if dist.is_initialized() else 1
        raise ConfigError(
            f"train_dir holds {len(dataset)} sample(s), fewer than batch_size "
            f"{config.batch_size}"
            + (f" x {processes} processes" if processes > 1 else "")
            + ": no training step would run; lower batch_size or add samples"
        )
    if not has_validation(config):
        _say(
            "note: no validation set in the config (val_dir, aflw_val_dir, human_val_labels): "
            "best.pt will be the last epoch's model",
            log,
        )
    if _is_main():
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / "config.json", json.dumps(asdict(config), indent=2))
    steps_per_epoch = (
        len(loader)
        if config.max_steps_per_epoch is None
        else min(len(loader), config.max_steps_per_epoch)
    )
    start_epoch, best, history = 0, math.inf, []
    state_path = out_dir / "last.pt"
    optimiser = None
    if config.init_weights and not (resume and state_path.exists()):
        _initialise_from(model, Path(config.init_weights), topology)
    if resume and state_path.exists():
        payload = load_payload(state_path)  # WeightsError for a truncated or corrupt file
        model.load_state_dict(payload["state_dict"])
        start_epoch = payload["epoch"] + 1
        best = payload.get("best", math.inf)
        history = payload.get("history", [])
    ddp_model: torch.nn.Module = model
    if dist.is_initialized():
        ddp_model = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    metrics: dict = {}
    for epoch in range(start_epoch, config.epochs):
        stage = 1 if epoch < config.stage1_epochs else 2
        phase_start = 0 if stage == 1 else config.stage1_epochs
        phase_len = (
            config.stage1_epochs if stage == 1 else max(config.epochs - config.stage1_epochs, 1)
        )
        if optimiser is None or epoch in (start_epoch, config.stage1_epochs):
            optimiser = torch.optim.Adam(
                _stage_parameters(model, stage), lr=config.lr, weight_decay=config.weight_decay
            )
            if resume and epoch == start_epoch and state_path.exists():
                opt_state = payload.get("optimiser")
                if opt_state is not None and payload.get("stage") == stage:
                    optimiser.load_state_dict(opt_state)
        for p in model.parameters():
            p.requires_grad_(False)
        for p in _stage_parameters(model, stage):
            p.requires_grad_(True)
        model.train()
        if stage == 2:  # stage 1 frozen: its batch-norm statistics too
            model.stage1.eval()
        dataset.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"epoch {epoch + 1}/{config.epochs} s{stage}",
            file=sys.stderr,
            disable=not (_is_main() and log),
            mininterval=5,
        )
        running: dict[str, float] = {}
        t0 = time.time()
        for step, (images, keypoints, vertices, pose) in enumerate(loader):
            if step >= steps_per_epoch:
                break
            progress = (epoch - phase_start + step / steps_per_epoch) / phase_len
            for group in optimiser.param_groups:
                group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
            images = images.to(device, memory_format=torch.channels_last)
            keypoints = keypoints.to(device)
            vertices, pose = vertices.to(device), pose.to(device)
            output = ddp_model(images, num_stages=stage)
            loss, parts = cascade_loss(output, keypoints, vertices, pose)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            for key, value in parts.items():
                running[key] = (
                    running.get(key, 0.0) * 0.95 + value * 0.05 if key in running else value
                )
            bar.set_postfix({k: f"{v:.4f}" for k, v in running.items() if k.endswith("kp")})
            bar.update()
        bar.close()
        if _is_main():
            model.eval()
            metrics = validate(model, topology, config, device)
            metrics.update(
                {
                    "epoch": epoch + 1,
                    "stage": stage,
                    "train": running,
                    "seconds": round(time.time() - t0, 1),
                }
            )
            history.append(metrics)
            # without validation every epoch is "better": best.pt is the last epoch's model
            score = selection_score(metrics) if has_validation(config) else -float(epoch)
            _say(epoch_line(metrics, config.epochs), log)
            meta = {"train_config": asdict(config), "epoch": epoch + 1, "metrics": metrics}
            if score < best:
                best = score
                save_cascade(model, out_dir / "best.pt", meta)
                for stale in (refiner_path(out_dir / "best.pt"), offsets_path(out_dir / "best.pt")):
                    stale.unlink(missing_ok=True)  # fitted for the previous best.pt
            save_cascade(
                model,
                state_path,
                meta,
                extra={
                    "epoch": epoch,
                    "best": best,
                    "history": history,
                    "stage": stage,
                    "optimiser": optimiser.state_dict(),
                },
            )
            atomic_write_text(out_dir / "history.json", json.dumps(history, indent=2))
        if dist.is_initialized():
            dist.barrier()
    if dist.is_initialized():
        dist.destroy_process_group()
    if _is_main() and config.human_val_labels and (out_dir / "best.pt").is_file():
        fit_refiner_beside(out_dir / "best.pt", Path(config.human_val_labels), log)
    if _is_main() and (out_dir / "best.pt").is_file():
        _say(
            f"done: the model to use is {out_dir / 'best.pt'}, e.g. mtface predict PHOTOS "
            f"--out OUT --weights {out_dir / 'best.pt'} (continue the run: the same command "
            "with --resume)",
            log,
        )
    return metrics


def fit_refiner_beside(weights: Path, labels: Path, log: bool = True) -> Path | None:
    """Fit the 2D refiner of ``weights`` on the training photos of the human label folder
    ``labels`` and write it into that model file (ADR 11, ADR 20), so that a copy of the file
    keeps it; returns the file, or None, with a message, when the folder has no training
    photos or the refiner would make the held-out error worse."""
    from mtface.core.model_file import update_model
    from mtface.core.training.refine2d_fit import fit_on_label_folder

    try:
        report = fit_on_label_folder(labels, weights)
    except (ValueError, OSError) as exc:  # best.pt is written: say why and end normally
        if log:
            print(f"no 2D refiner fitted: {exc}", flush=True)
        return None
    if log:
        print(report.held_out_line(), file=sys.stderr, flush=True)
    if report.makes_worse:  # a refiner must never make the model worse
        if log:
            print(
                f"no 2D refiner written: it makes the held-out error worse ({weights} would "
                "hold it; `mtface data fit-refiner --force` writes it anyway)",
                file=sys.stderr,
                flush=True,
            )
        return None
    update_model(weights, weights, refiner=report.refiner)
    if log:
        print(f"2D refiner written into {weights}", file=sys.stderr, flush=True)
    return Path(weights)

"""Training within a time budget, in steps, resumable: the training of ``mtface finetune``.

The same training as ``mtface train`` (core/training/trainer.py: the cascade's loss, Adam, stage
1 first, then stage 2 with stage 1 frozen, the augmented samples of a synthetic set) but planned
in seconds instead of epochs: stage 1 gets ``STAGE1_SHARE`` of the training time, stage 2 the
rest, and within each stage the learning rate follows a cosine from ``lr`` to 0 over the
stage's time (or its steps, where a step limit is given: tests). Samples are drawn in shuffled
passes over the set (each pass with new augmentations), so a set smaller than a batch still
trains.

The state (weights, optimiser, stage, steps, seconds spent) is written to ``state_path`` every
``SAVE_EVERY_S`` seconds, at the end of stage 1 and when Ctrl-C interrupts a step; a run given
the same ``state_path`` continues from it.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from mtface.core.checkpoint import load_payload, save_cascade
from mtface.core.model import CascadeMTCNN, cascade_loss
from mtface.core.topology import Topology
from mtface.core.training.dataset import SyntheticFaces
from mtface.core.training.trainer import _stage_parameters, augment_config

#: Share of the training time (or steps) given to stage 1 (whose step costs about a third of
#: stage 2's; stage 2 adds corrections to stage 1's output, which moves with stage 1).
STAGE1_SHARE = 0.6
#: Seconds between two saved states.
SAVE_EVERY_S = 60.0
#: Crops as loose as a detector's (the shipped model's last fine-tuning, docs/training.md).
LOOSE_AUGMENT = {"scale_jitter": [0.85, 1.22], "shift_jitter": 0.11}


@dataclass(frozen=True)
class StepPlan:
    """How long each stage trains: ``seconds`` of training in all (None: no time limit) and
    ``max_steps`` in all (None: no step limit); at least one of them is set."""

    seconds: float | None
    max_steps: int | None = None

    def stage_limits(self, stage: int) -> tuple[float | None, int | None]:
        """(seconds, steps) of ``stage`` (1 or 2)."""
        share = STAGE1_SHARE if stage == 1 else 1.0 - STAGE1_SHARE
        seconds = None if self.seconds is None else self.seconds * share
        steps = None
        if self.max_steps is not None:
            first = max(1, int(round(self.max_steps * STAGE1_SHARE)))
            steps = first if stage == 1 else max(self.max_steps - first, 1)
        return seconds, steps


@dataclass
class TrainProgress:
    """Where training stands: ``stage`` (1, 2, or 3 when done), ``steps`` and ``seconds`` spent
    in the current stage, ``total_steps`` over both stages."""

    stage: int = 1
    steps: int = 0
    seconds: float = 0.0
    total_steps: int = 0
    loss: float = math.nan


class _Passes(Dataset):
    """Item ``p * n + i`` is item ``i`` of ``dataset`` augmented as in pass ``p``."""

    def __init__(self, dataset: SyntheticFaces) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return 1 << 40

    def __getitem__(self, item: int) -> tuple[torch.Tensor, ...]:
        n = len(self.dataset)
        self.dataset.set_epoch(item // n)
        return self.dataset[item % n]


class _ShuffledPasses(Sampler[int]):
    """Endless shuffled passes over ``n`` items, from pass ``start_pass`` (seeded per pass)."""

    def __init__(self, n: int, seed: int, start_pass: int = 0) -> None:
        self.n, self.seed, self.start_pass = n, seed, start_pass

    def __iter__(self) -> Iterator[int]:
        p = self.start_pass
        while True:
            order = np.random.default_rng((self.seed, p)).permutation(self.n)
            yield from (p * self.n + int(i) for i in order)
            p += 1

    def __len__(self) -> int:
        return 1 << 40


def _lr(base: float, fraction: float) -> float:
    return base * 0.5 * (1.0 + math.cos(math.pi * min(max(fraction, 0.0), 1.0)))


def train_in_steps(
    model: CascadeMTCNN,
    topology: Topology,
    sample_set: Path,
    plan: StepPlan,
    state_path: Path,
    lr: float = 2e-4,
    batch_size: int = 64,
    seed: int = 0,
    on_save: Callable[[TrainProgress], None] | None = None,
) -> TrainProgress:
    """Train ``model`` (in place) on the synthetic set ``sample_set`` by ``plan``, continuing
    from ``state_path`` when it holds a state; returns the progress (stage 3: done). Ctrl-C
    saves the state, then raises KeyboardInterrupt. ``on_save`` is told of every saved state."""
    dataset = SyntheticFaces(
        sample_set, topology, model.config.crop_size, augment_config(LOOSE_AUGMENT), seed=seed
    )
    if len(dataset) == 0:
        raise ValueError(f"{sample_set}: the training set holds no samples")
    batch = min(batch_size, len(dataset))
    progress = TrainProgress()
    optimiser_state = None
    if state_path.is_file():
        payload = load_payload(state_path)
        model.load_state_dict(payload["state_dict"])
        progress = TrainProgress(**payload["progress"])
        optimiser_state = payload.get("optimiser")
    torch.manual_seed(seed + progress.total_steps)

    def save(optimiser: torch.optim.Optimizer | None) -> None:
        extra = {"progress": progress.__dict__.copy()}
        if optimiser is not None:
            extra["optimiser"] = optimiser.state_dict()
        save_cascade(model, state_path, {"finetune_state": True}, extra=extra)
        if on_save is not None:
            on_save(progress)

    bar = tqdm(
        total=2,
        desc="training",
        unit="stage",
        file=sys.stderr,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}",
    )
    try:
        while progress.stage <= 2:
            _train_stage(
                model, dataset, plan, progress, optimiser_state, lr, batch, seed, save, bar
            )
            optimiser_state = None
    finally:
        bar.close()
    model.eval()
    return progress


def _train_stage(
    model: CascadeMTCNN,
    dataset: SyntheticFaces,
    plan: StepPlan,
    progress: TrainProgress,
    optimiser_state: dict | None,
    lr: float,
    batch: int,
    seed: int,
    save: Callable[[torch.optim.Optimizer | None], None],
    bar: tqdm,
) -> None:
    stage = progress.stage
    limit_s, limit_steps = plan.stage_limits(stage)
    parameters = _stage_parameters(model, stage)
    optimiser = torch.optim.Adam(parameters, lr=lr, weight_decay=1e-4)
    if optimiser_state is not None:
        optimiser.load_state_dict(optimiser_state)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in parameters:
        p.requires_grad_(True)
    model.train()
    if stage == 2:  # stage 1 frozen: its batch-norm statistics too
        model.stage1.eval()
    start_pass = progress.total_steps * batch // len(dataset)
    loader = DataLoader(
        _Passes(dataset),
        batch_size=batch,
        sampler=_ShuffledPasses(len(dataset), seed + stage, start_pass),
        num_workers=1,
        drop_last=True,
    )

    def fraction() -> float:
        parts = []
        if limit_s is not None:
            parts.append(progress.seconds / max(limit_s, 1e-9))
        if limit_steps is not None:
            parts.append(progress.steps / limit_steps)
        return max(parts)

    last_save = tick = time.monotonic()
    try:
        for images, keypoints, vertices, pose in loader:
            if fraction() >= 1.0:
                break
            for group in optimiser.param_groups:
                group["lr"] = _lr(lr, fraction())
            output = model(images.contiguous(memory_format=torch.channels_last), num_stages=stage)
            loss, _ = cascade_loss(output, keypoints, vertices, pose)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            progress.steps += 1
            progress.total_steps += 1
            now = time.monotonic()
            progress.seconds += now - tick  # the step and the wait for its batch
            tick = now
            progress.loss = float(loss.detach())
            bar.n = round((stage - 1) + min(fraction(), 1.0), 3)
            bar.set_postfix_str(f"stage {stage} step {progress.steps} loss {progress.loss:.4f}")
            if now - last_save > SAVE_EVERY_S:
                save(optimiser)
                last_save = tick = time.monotonic()
    except KeyboardInterrupt:
        save(optimiser)
        raise
    progress.stage += 1
    progress.steps, progress.seconds = 0, 0.0
    save(None)

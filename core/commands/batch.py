"""Big folders for ``predict`` and ``annotate``: worker processes, shards, and the lock of an
output folder.

* ``--workers N``: N processes (``spawn``), each loading the predictor once
  (:class:`PredictorSpec`) and writing the outputs of the images it is given. Each image is
  written by exactly one process and every output depends on its image only, so the files are
  the same as with one worker. Results come back in the images' order.
* ``--shard K/N``: the K-th of N parts (1-based) of the run's images sorted by output name,
  taken round-robin (``sorted[K-1::N]``). Every machine of a batch scheduler computes the same
  plan, so the N parts are disjoint and together hold every image.
* :class:`OutputLock`: a run holds ``OUT/.mtface.lock`` (an OS file lock, released when the
  process ends, even killed) while it writes into ``OUT``; a second run into the same folder
  stops at once with a clear error instead of mixing its files with the first one's. Shards of
  one plan hold the folder lock shared and their own shard lock exclusively, so they can share
  ``OUT``. The last holder removes the lock files.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from mtface.core.commands.outputs import ImageJob
    from mtface.core.predictor import Predictor

LOCK_NAME = ".mtface.lock"
Result = TypeVar("Result")


class JobOutcome(Protocol):
    """What ``run_jobs`` reads of a job's result: lines to print, and a write failure."""

    messages: list[str]
    error: str | None


Outcome = TypeVar("Outcome", bound=JobOutcome)


class OutputBusyError(OSError):
    """Another run holds the output folder's lock."""


def shard_jobs(jobs: Sequence[ImageJob], shard: tuple[int, int] | None) -> list[ImageJob]:
    """The jobs of shard ``(k, n)`` (1 <= k <= n): every n-th job, from the (k-1)-th, of the
    jobs sorted by output name; all jobs (in their order) when ``shard`` is None."""
    if shard is None:
        return list(jobs)
    k, n = shard
    if not 1 <= k <= n:
        raise ValueError(f"shard {k}/{n}: needs 1 <= K <= N")
    return sorted(jobs, key=lambda job: job.base)[k - 1 :: n]


class OutputLock:
    """Hold ``folder/.mtface.lock`` for a run (see the module docstring); raises
    OutputBusyError when another run holds it. Creates ``folder``."""

    def __init__(self, folder: Path, shard: tuple[int, int] | None = None) -> None:
        self.folder = Path(folder)
        self.shard = shard
        self._handles: list[tuple[int, Path]] = []

    def __enter__(self) -> OutputLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._take(LOCK_NAME, exclusive=self.shard is None)
            if self.shard is not None:
                k, n = self.shard
                self._take(f".mtface-shard-{k}-of-{n}.lock", exclusive=True)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _take(self, name: str, exclusive: bool) -> None:
        path = self.folder / name
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._handles.append((handle, path))
        if not _lock(handle, exclusive):
            raise OutputBusyError(
                errno.EBUSY,
                f"another mtface run is writing into {self.folder} (it holds {path}); wait for "
                "it to end or give another --out",
            )

    def __exit__(self, *exc: object) -> None:
        while self._handles:
            handle, path = self._handles.pop()
            # the last holder removes the lock file (nobody else holds it: exclusive succeeds)
            if _lock(handle, exclusive=True):
                path.unlink(missing_ok=True)
            os.close(handle)  # closing releases the lock


def _lock(handle: int, exclusive: bool) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: msvcrt has exclusive locks only
        import msvcrt

        try:
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


@dataclass(frozen=True)
class PredictorSpec:
    """How to build the predictor of a run in a worker process (picklable):
    ``Predictor.from_weights(weights, **options)``, with the detector's fine search when
    ``small_faces``."""

    weights: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    small_faces: bool = False

    def build(self) -> Predictor:
        from mtface.core.predictor import Predictor

        detector = None
        if self.small_faces:
            from mtface.core.detection.yunet import default_detector

            detector = default_detector(small_faces=True)
        return Predictor.from_weights(self.weights, detector=detector, **self.options)


_WORKER: dict[str, Any] = {}


def _init_worker(spec: PredictorSpec, threads: int, context: object) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER["predictor"] = spec.build()
    _WORKER["context"] = context  # sent once per worker, not with every image


def _run_in_worker(task: Callable[..., Result], job: ImageJob) -> Result:
    return task(_WORKER["predictor"], job, _WORKER["context"])


def map_jobs(
    task: Callable[[Predictor, ImageJob, Any], Result],
    jobs: Sequence[ImageJob],
    context: object,
    predictor: Predictor,
    spec: PredictorSpec | None = None,
    workers: int = 1,
) -> Iterator[Result]:
    """``task(predictor, job, context)`` for every job, results in the jobs' order: in this
    process with ``predictor`` when ``workers`` is 1, else in ``workers`` spawned processes
    that build theirs from ``spec`` (``task`` and ``context`` must be picklable). Closing the
    iterator early cancels the jobs not started."""
    if workers <= 1 or len(jobs) < 2:
        for job in jobs:
            yield task(predictor, job, context)
        return
    if spec is None:
        raise ValueError("workers > 1 need a PredictorSpec to build each worker's predictor")
    import multiprocessing

    workers = min(workers, len(jobs))
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(spec, threads, context),
    )
    futures: list[Future] = []
    try:
        # a bounded window keeps memory flat on huge folders
        window = 4 * workers
        pending = iter(jobs)
        for job in pending:
            futures.append(pool.submit(_run_in_worker, task, job))
            if len(futures) >= window:
                break
        position = 0
        while position < len(futures):
            result = futures[position].result()
            futures[position] = None  # type: ignore[call-overload]
            position += 1
            nxt = next(pending, None)
            if nxt is not None:
                futures.append(pool.submit(_run_in_worker, task, nxt))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        sys.stderr.flush()


def run_jobs(
    task: Callable[[Predictor, ImageJob, Any], Outcome],
    jobs: Sequence[ImageJob],
    context: object,
    predictor: Predictor,
    spec: PredictorSpec | None,
    workers: int,
    desc: str,
    take: Callable[[Outcome], None],
) -> None:
    """``map_jobs`` with a progress bar named ``desc`` (shown from two images): each result's
    ``messages`` are printed above the bar, ``take(result)`` adds it to the caller's summary,
    and a result with an ``error`` (a write failure) stops the run."""
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc=desc, unit="img", file=sys.stderr, disable=len(jobs) < 2)
    results = map_jobs(task, jobs, context, predictor, spec, workers)
    try:
        for result in results:
            for message in result.messages:
                tqdm.write(message, file=sys.stderr)
            take(result)
            bar.update()
            if result.error:
                break
    finally:
        results.close()
        bar.close()

"""``mtface data preview``: exactly ``count`` tiles (the last row padded), a seed that changes
which samples are drawn, the grid spread over the yaw range."""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest

from mtface.core.commands.data import PREVIEW_TILE, preview_grid, preview_picks, run_data

N = 10


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory, topology):
    """N samples: a mid-grey crop each, the template face, yaws from -80 to 80 degrees."""
    folder = tmp_path_factory.mktemp("preview") / "set"
    folder.mkdir()
    v = topology.vertices / np.ptp(topology.vertices[:, 0]) * 80.0
    v = v - v.mean(0) + np.array([96.0, 96.0, 0.0])
    yaws = np.linspace(-80.0, 80.0, N)
    np.save(folder / "images.npy", np.full((N, 192, 192, 3), 128, np.uint8))
    np.save(folder / "vertices.npy", np.repeat(v[None].astype(np.float32), N, axis=0))
    np.save(folder / "pose.npy", np.stack([np.zeros(N), yaws, np.zeros(N)], 1).astype(np.float32))
    (folder / "meta.json").write_text(json.dumps({"format": 1, "count": N}))
    return folder


def _tiles(grid: np.ndarray) -> list[np.ndarray]:
    t = PREVIEW_TILE
    return [
        grid[r : r + t, c : c + t]
        for r in range(0, grid.shape[0], t)
        for c in range(0, grid.shape[1], t)
    ]


# --- smoke / shapes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "count, rows, columns", [(1, 1, 1), (5, 1, 5), (8, 1, 8), (12, 2, 8), (17, 3, 8)]
)
def test_any_count_draws_exactly_that_many_tiles(tiny_set, count, rows, columns):
    grid = preview_grid(str(tiny_set), count)
    assert grid.shape == (rows * PREVIEW_TILE, columns * PREVIEW_TILE, 3)
    assert grid.dtype == np.uint8
    drawn = [tile.any() for tile in _tiles(grid)]
    assert drawn == [True] * count + [False] * (rows * columns - count)  # black padding


def test_picks_shapes_and_order():
    yaws = np.linspace(-80.0, 80.0, N)
    for count in (1, 4, N, N + 3):
        picks = preview_picks(yaws, count, seed=3)
        assert picks.shape == (count,) and picks.dtype.kind == "i"
        assert ((picks >= 0) & (picks < N)).all()
        assert (np.diff(np.abs(yaws[picks])) >= 0).all()  # ordered by |yaw|
    assert set(preview_picks(yaws, N + 3).tolist()) == set(range(N))  # all shown, some twice


# --- exceptions -----------------------------------------------------------------------------


def test_bad_counts_and_empty_sets_are_refused(tiny_set):
    with pytest.raises(ValueError, match="count"):
        preview_picks(np.zeros(4), 0)
    with pytest.raises(ValueError, match="no samples"):
        preview_picks(np.zeros(0), 3)
    with pytest.raises(ValueError, match="columns"):
        preview_grid(str(tiny_set), 3, columns=0)


# --- numerical values -----------------------------------------------------------------------


def test_the_seed_changes_which_samples_are_drawn(tiny_set):
    yaws = np.linspace(-80.0, 80.0, 40)
    drawn = {tuple(preview_picks(yaws, 5, seed).tolist()) for seed in range(6)}
    assert len(drawn) > 1
    assert np.array_equal(preview_picks(yaws, 5, 2), preview_picks(yaws, 5, 2))
    # the grid shows other samples (their yaw labels differ) with another seed
    grids = [preview_grid(str(tiny_set), 3, seed=seed) for seed in range(4)]
    assert any(not np.array_equal(grids[0], g) for g in grids[1:])


def test_picks_span_the_yaw_range():
    yaws = np.linspace(0.0, 90.0, 91)
    picks = preview_picks(yaws, 9, seed=0)
    runs = np.array_split(np.arange(91), 9)  # yaws are sorted: one pick from each tenth
    assert all(p in run for p, run in zip(picks, runs))


def test_data_preview_command_honours_count_and_seed(tiny_set, tmp_path):
    out = tmp_path / "grid.png"
    args = argparse.Namespace(data_command="preview", data=tiny_set, out=out, count=5, seed=4)
    assert run_data(args) == 0
    grid = cv2.imread(str(out))
    assert grid.shape == (PREVIEW_TILE, 5 * PREVIEW_TILE, 3)


def test_mtface_data_preview_count_5(tiny_set, tmp_path, capsys):
    from mtface.cli.main import main

    out = tmp_path / "cli.png"
    assert (
        main(["data", "preview", "--data", str(tiny_set), "--out", str(out), "--count", "5"]) == 0
    )
    assert cv2.imread(str(out)).shape == (PREVIEW_TILE, 5 * PREVIEW_TILE, 3)

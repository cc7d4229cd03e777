"""Big folders: ``--workers N`` gives the same files as one worker, ``--shard K/N`` splits the
images into disjoint parts that together cover every image (core/commands/batch.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mtface.cli.main import main
from mtface.core.commands.batch import shard_jobs
from mtface.core.commands.outputs import plan_outputs
from mtface.core.resources import resource_path

SAMPLE = resource_path("samples", "astronaut.jpg")


@pytest.fixture()
def three_images(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    from PIL import Image

    image = Image.open(SAMPLE)
    image.save(folder / "a.jpg")
    image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "b.jpg")
    image.resize((400, 400)).save(folder / "c.png")
    return folder


def _contents(folder: Path) -> dict[str, object]:
    """Every file's content; JSON without its timings (they differ from run to run)."""
    out: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            if path.suffix == ".json":
                data = json.loads(path.read_text())
                data.pop("timings_ms", None)
                out[path.name] = data
            else:
                out[path.name] = path.read_bytes()
    return out


def test_two_workers_write_what_one_writes(tmp_path, three_images, tiny_weights):
    common = ["--weights", str(tiny_weights), "--overlay"]
    assert main(["predict", str(three_images), "--out", str(tmp_path / "one"), *common]) == 0
    assert (
        main(
            [
                "predict",
                str(three_images),
                "--out",
                str(tmp_path / "two"),
                "--workers",
                "2",
                *common,
            ]
        )
        == 0
    )
    one, two = _contents(tmp_path / "one"), _contents(tmp_path / "two")
    assert len([n for n in one if n.endswith(".json")]) == 3
    assert one.keys() == two.keys() and one == two


def test_two_workers_with_caller_boxes(tmp_path, three_images, tiny_weights):
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({name: [[100, 100, 400, 420]] for name in ("a.jpg", "b.jpg")}))
    common = ["--weights", str(tiny_weights), "--boxes", str(boxes)]
    for workers in ("1", "2"):
        out = str(tmp_path / workers)
        # c.png has no box: skipped, so the run ends with exit 0 and two images written
        assert (
            main(["predict", str(three_images), "--out", out, "--workers", workers, *common]) == 0
        )
    assert _contents(tmp_path / "1") == _contents(tmp_path / "2")
    assert sorted(n for n in _contents(tmp_path / "1") if n.endswith(".json")) == [
        "a.json",
        "b.json",
    ]


def test_annotate_with_two_workers(tmp_path, three_images, tiny_weights):
    args = ["annotate", str(three_images), "--weights", str(tiny_weights), "--format", "csv"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert main([*args, "--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    assert _contents(tmp_path / "one") == _contents(tmp_path / "two")
    assert len(_contents(tmp_path / "one")) == 3


def test_shards_are_disjoint_and_cover_every_image(tmp_path, three_images, tiny_weights):
    jobs = plan_outputs([three_images])
    parts = [shard_jobs(jobs, (k, 2)) for k in (1, 2)]
    assert sorted(j.base for part in parts for j in part) == sorted(j.base for j in jobs)
    assert not {j.base for j in parts[0]} & {j.base for j in parts[1]}
    assert shard_jobs(list(reversed(jobs)), (1, 2)) == parts[0]  # input order does not matter
    out = tmp_path / "o"
    for k in (1, 2):
        args = ["predict", str(three_images), "--out", str(out), "--shard", f"{k}/2"]
        assert main([*args, "--weights", str(tiny_weights)]) == 0
    assert sorted(p.name for p in out.glob("*.json")) == ["a.json", "b.json", "c.json"]
    single = tmp_path / "single"
    shutil.copytree(three_images, tmp_path / "again")
    assert (
        main(
            [
                "predict",
                str(tmp_path / "again"),
                "--out",
                str(single),
                "--weights",
                str(tiny_weights),
            ]
        )
        == 0
    )
    assert _contents(out) == _contents(single)

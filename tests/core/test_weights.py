"""Weights files carry their own checksum; bundled files match SHA256SUMS; every model must give
finite outputs; the exporter writes both in one step. Plus the other atomic writers and the
restricted unpickler of the BFM pickle."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from mtface.core import checkpoint, weights
from mtface.core.checkpoint import load_cascade, save_cascade
from mtface.core.formats import atomic
from mtface.core.formats.atomic import SaveError
from mtface.core.model import CascadeConfig, CascadeMTCNN
from mtface.core.resources import resource_path
from mtface.core.weights import WeightsError, state_checksum


def test_saved_weights_carry_a_checksum_of_their_content(tmp_path, tiny_weights):
    payload = torch.load(tiny_weights, weights_only=True)
    assert payload["checksum"]["sha256"] == state_checksum(payload["config"], payload["state_dict"])
    name = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][name].view(-1)[0] += 1e-3  # one weight changed, file still valid
    changed = tmp_path / "changed.pt"
    torch.save(payload, changed)
    with pytest.raises(WeightsError, match="differs from the checksum"):
        load_cascade(changed)


def _bundled_without_checksum(tmp_path, monkeypatch, topology, name: str):
    """A weights file under a stand-in resources/ folder, saved without an embedded checksum
    (as files were before checksums were embedded)."""
    root = tmp_path / "resources"
    (root / "models").mkdir(parents=True)
    monkeypatch.setattr(weights, "resource_path", lambda *p: root.joinpath(*p))
    path = root / "models" / name
    save_cascade(CascadeMTCNN(CascadeConfig(), topology), path)
    payload = torch.load(path, weights_only=True)
    del payload["checksum"]
    torch.save(payload, path)
    return path


def test_bundled_file_without_embedded_checksum_loads_by_sha256sums(
    tmp_path, monkeypatch, topology
):
    """Weights written before checksums were embedded load when resources/SHA256SUMS lists
    them (the bundled files of earlier releases)."""
    path = _bundled_without_checksum(tmp_path, monkeypatch, topology, "old.pt")
    weights.write_checksums()
    model, _ = load_cascade(path)
    assert isinstance(model, CascadeMTCNN)


def test_bundled_weights_need_a_checksum(tmp_path, monkeypatch, topology):
    """A file under resources/ with neither an embedded checksum nor a SHA256SUMS line is
    refused; a user's file without a checksum is accepted when its outputs are finite."""
    path = _bundled_without_checksum(tmp_path, monkeypatch, topology, "x.pt")
    with pytest.raises(WeightsError, match="no checksum"):
        load_cascade(path)
    user = tmp_path / "user.pt"
    shutil.copy(path, user)
    assert isinstance(load_cascade(user)[0], CascadeMTCNN)


def test_exporter_writes_checksum_and_sha256sums_in_one_step(tmp_path, monkeypatch, tiny_weights):
    from tools.export_default_model import export_default

    root = tmp_path / "resources"
    shutil.copytree(resource_path(), root)
    monkeypatch.setattr(weights, "resource_path", lambda *p: root.joinpath(*p))
    monkeypatch.setattr(checkpoint, "resource_path", lambda *p: root.joinpath(*p))
    out, sums = export_default(tiny_weights)
    assert out == root / "models" / "mtface_default.pt"
    assert "checksum" in torch.load(out, weights_only=True)
    lines = dict(reversed(line.split()) for line in sums.read_text().splitlines())
    assert lines["models/mtface_default.pt"] == weights.sha256_of(out)
    assert not any(p.name.startswith(".") for p in root.rglob("*"))
    weights.verify_bundled()


def test_checkpoint_write_failure_keeps_the_old_file(tmp_path, monkeypatch, tiny_weights, topology):
    path = tmp_path / "last.pt"
    shutil.copy(tiny_weights, path)
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", disk_full)
    with pytest.raises(SaveError):
        save_cascade(CascadeMTCNN(CascadeConfig(), topology), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_sample_set_writer_is_atomic(tmp_path, monkeypatch):
    from mtface.core.data.sampleset import SampleSetWriter

    def write(count: int) -> SampleSetWriter:
        writer = SampleSetWriter(tmp_path / "set", count, 8, 5)
        for k in range(count):
            writer.add(np.full((8, 8, 3), k, np.uint8), np.zeros((5, 3)), (0, 0, 0), k)
        return writer

    assert write(3).close({"note": "first"}) == 3
    before = {p.name: p.read_bytes() for p in (tmp_path / "set").iterdir()}
    writer = write(2)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", disk_full)
    with pytest.raises(SaveError):
        writer.close({"note": "second"})
    after = {p.name: p.read_bytes() for p in (tmp_path / "set").iterdir()}
    assert after == before  # the first set intact, no temporary files
    assert json.loads(after["meta.json"])["count"] == 3


def test_bfm_unpickler_admits_arrays_and_containers_only(tmp_path):
    from mtface.core.data.threedmm import ArraysOnlyUnpickler

    data = {"a": np.arange(6.0).reshape(2, 3), "b": [1, "x", (2.5, None)], "c": np.float32(3)}
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(data))
    with open(path, "rb") as handle:
        back = ArraysOnlyUnpickler(handle).load()
    assert np.array_equal(back["a"], data["a"]) and back["b"] == data["b"]
    for payload in (pickle.dumps(shutil.rmtree), pickle.dumps(eval)):
        path.write_bytes(payload)
        with open(path, "rb") as handle, pytest.raises(pickle.UnpicklingError, match="refusing"):
            ArraysOnlyUnpickler(handle).load()


def test_checksums_cover_weights_tables_and_the_detector_calibration(tmp_path, monkeypatch):
    root = tmp_path / "resources"
    shutil.copytree(resource_path(), root)
    monkeypatch.setattr(weights, "resource_path", lambda *p: root.joinpath(*p))
    listed = {line.split()[1] for line in weights.write_checksums().read_text().splitlines()}
    assert {"detector/yunet_crop.json", "detector/blazeface_short.pt"} <= listed
    assert "models/mtface_default.pt" in listed  # one model file (ADR 20)
    assert not any(name.startswith("configs/") for name in listed)
    weights.verify_bundled()

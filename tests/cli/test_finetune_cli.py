"""``mtface finetune`` on the command line: its options reach the command; bad input is exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtface.cli import main as cli


def test_finetune_options_reach_the_command(monkeypatch):
    import mtface.core.commands.finetune as finetune

    seen = []
    monkeypatch.setattr(finetune, "run_finetune", lambda options: seen.append(options) or 0)
    argv = ["finetune", "a", "b", "--out", "m.pt", "--from", "w.pt", "--minutes", "5"]
    assert cli.main([*argv, "--overwrite", "--threads", "1", "--max-steps", "3"]) == 0
    options = seen[0]
    assert options.folders == [Path("a"), Path("b")] and options.out == Path("m.pt")
    assert options.from_weights == Path("w.pt") and options.minutes == 5.0
    assert options.overwrite and not options.restart
    assert (options.threads, options.max_steps, options.bfm) == (1, 3, None)


def test_finetune_help_hides_the_test_option(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["finetune", "--help"])
    text = capsys.readouterr().out
    assert "--minutes" in text and "--overwrite" in text and "--max-steps" not in text


def test_finetune_on_a_folder_without_annotations_is_exit_2(tmp_path, capsys):
    assert cli.main(["finetune", str(tmp_path), "--out", str(tmp_path / "m.pt")]) == 2
    assert "error: no annotated photos under" in capsys.readouterr().err

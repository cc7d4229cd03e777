"""The command line as the composition root: sub-commands, version, the studio default."""

from __future__ import annotations

import pytest

from mtface.cli import main as cli


def test_every_listed_command_has_a_parser(capsys):
    parser = cli.build_parser()
    for name in cli.COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([name, "--help"])
        assert exit_info.value.code == 0
    assert "invalid choice" not in capsys.readouterr().err


def test_version_comes_from_the_installed_package(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--version"])
    assert capsys.readouterr().out.strip() == f"mtface {version('mtface')}"


def test_a_first_argument_that_is_no_command_opens_the_studio(monkeypatch):
    opened = []
    import mtface.gui.app as app

    monkeypatch.setattr(app, "main", lambda argv: opened.append(argv) or 0)
    assert cli.main(["photo.jpg", "--landmarks", "2d"]) == 0
    assert opened == [["photo.jpg", "--landmarks=2d"]]

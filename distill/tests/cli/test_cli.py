"""The `spectra-distill` program: complete help texts, `--log-level`/`--quiet`, `--version`, `python -m`."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from spectra_distill import __version__
from spectra_distill.cli import build_parser, main, summary

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # distill/, for a subprocess that must import this copy


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _module(command: str):
    return importlib.import_module(f"spectra_distill.commands.{command.replace('-', '_')}")


def _flat(text: str) -> str:
    return " ".join(text.split())


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_commands_include_the_quantizer_helpers() -> None:
    assert {"train", "evaluate", "export", "split-pairs", "device-latency"} <= set(_commands())


def test_main_help_is_whole(capsys: pytest.CaptureFixture[str]) -> None:
    import spectra_distill.cli as cli

    text = _flat(_help(["--help"], capsys))
    assert _flat(cli.__doc__ or "") in text, "the full description, not its first line"
    assert "and exposes" not in text
    for name, parser in _commands().items():
        one_line = summary(_module(name).__doc__)
        assert one_line.endswith("."), f"{name}: summary is not a whole sentence: {one_line!r}"
        assert f"{name} {one_line}" in text, f"{name}: one-line help cut or missing"
        assert parser.description == _module(name).__doc__


@pytest.mark.parametrize("command", sorted(_commands()))
def test_command_help_is_whole_and_every_option_explained(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help([command, "--help"], capsys)
    doc = _module(command).__doc__ or ""
    assert _flat(doc) in _flat(text), "the module docstring, whole, is the command's description"
    assert "--log-level" in text and "--quiet" in text
    for action in _commands()[command]._actions:
        assert action.help and action.help != argparse.SUPPRESS, f"{command} {action.option_strings}: no help"


def test_summary_joins_a_wrapped_first_paragraph() -> None:
    doc = """Lists the scenes and
    their split roles.

    Example: spectra-distill data
    """
    assert summary(doc) == "Lists the scenes and their split roles."
    assert summary(None) == ""


def _metric_vectors(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    out = tmp_path / "vectors.json"
    argv = [*flags, "metric-vectors", "--out", str(out)]
    if flags and flags[0] == "after":
        argv = ["metric-vectors", "--out", str(out), *flags[1:]]
    assert main(argv) == 0
    assert json.loads(out.read_text())["cases"], "the command did its work at every level"
    captured = capsys.readouterr()
    assert captured.out == "", "metric-vectors has no stdout result; diagnostics never go to stdout"
    return captured.err


def test_log_level_changes_what_is_emitted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wrote = re.compile(r"^wrote \d+ cases to .*vectors\.json$", re.M)
    default = _metric_vectors(tmp_path, capsys)
    assert wrote.search(default) and "debug" not in default

    debug = _metric_vectors(tmp_path, capsys, "--log-level", "DEBUG")
    assert wrote.search(debug)
    invocation = f"spectra-distill {__version__}: spectra-distill --log-level DEBUG metric-vectors"
    assert f"debug [spectra_distill.cli]: {invocation}" in debug

    assert _metric_vectors(tmp_path, capsys, "--log-level", "warning") == ""
    assert _metric_vectors(tmp_path, capsys, "--quiet") == ""
    assert _metric_vectors(tmp_path, capsys, "after", "-q") == "", "accepted after the command name too"
    after = _metric_vectors(tmp_path, capsys, "after", "--log-level", "error")
    assert after == ""


def test_errors_are_logged_even_when_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quiet", "data", "--data", str(tmp_path / "nowhere")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.fullmatch(r"error: DatasetError: .*nowhere: Data root is not a folder.*\n", captured.err)


def test_bad_log_level_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--log-level", "loud", "data"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'loud'" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert _help(["--version"], capsys).strip() == f"spectra-distill {__version__}"


def test_python_dash_m_runs_the_same_program() -> None:
    path = [str(PACKAGE_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    result = subprocess.run(
        [sys.executable, "-m", "spectra_distill", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage: spectra-distill ")
    for name in _commands():
        assert re.search(rf"^\s+{re.escape(name)}\s", result.stdout, re.M), f"{name} missing"

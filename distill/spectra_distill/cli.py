"""`spectra-distill`: the host side of Spectra Edge: hyperspectral data, Wald degradation, CSAKD
teacher/student distillation, evaluation, ONNX export and the quantizer's host helpers.

`python -m spectra_distill` runs the same program. Diagnostics (progress, files written, warnings) go to
stderr and follow `--log-level`/`--quiet`; a command's results (tables, JSON summaries) go to stdout.
Run `spectra-distill COMMAND --help` for a command's options.
"""

# Each subcommand lives in `spectra_distill.commands.<name>` and exposes `add_arguments(parser)` and
# `run(args) -> int`, so parts of the package own their own commands; this module discovers them.

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import shlex
import sys

from spectra_distill import __version__, commands
from spectra_distill.errors import SpectraDataError
from spectra_distill.log import DEFAULT_LEVEL, LEVELS, configure_logging

PROG = "spectra-distill"
logger = logging.getLogger(__name__)


def summary(doc: str | None) -> str:
    """The first paragraph of a docstring as one line: the one-line help of a command.

    A summary that wraps over several source lines stays whole (taking only the first line cut sentences).
    """
    paragraph = (doc or "").strip().split("\n\n")[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def _logging_options(defaults: bool) -> argparse.ArgumentParser:
    """`--log-level`/`--quiet`, accepted before and after the command name.

    The subcommand copies default to SUPPRESS so that, given before the command, the main parser's value is
    not overwritten by the subparser's default.
    """
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("logging")
    exclusive = group.add_mutually_exclusive_group()
    exclusive.add_argument(
        "--log-level",
        type=str.lower,
        choices=LEVELS,
        default=DEFAULT_LEVEL if defaults else argparse.SUPPRESS,
        help=f"least severe diagnostics written to stderr (default: {DEFAULT_LEVEL})",
    )
    exclusive.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="only warnings and errors (as --log-level warning; progress bars stay); results still on stdout",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_logging_options(defaults=True)],
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    quiet_parent = _logging_options(defaults=False)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        p = sub.add_parser(
            info.name.replace("_", "-"),
            help=summary(module.__doc__) or info.name,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[quiet_parent],
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("warning" if args.quiet else args.log_level)
    # what a command records of its own invocation (train: into checkpoints, and so model cards)
    args.invocation = shlex.join([PROG, *(sys.argv[1:] if argv is None else argv)])
    logger.debug("%s %s: %s", PROG, __version__, args.invocation)
    try:
        return int(args._run(args) or 0)
    except SpectraDataError as exc:
        logger.error("%s: %s", type(exc).__name__, exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())

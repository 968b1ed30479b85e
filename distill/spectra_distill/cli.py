"""`spectra-distill` entry point. Each subcommand lives in `spectra_distill.commands.<name>` and exposes
`add_arguments(parser)` and `run(args) -> int`, so parts of the package own their own commands."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import shlex
import sys

from spectra_distill import commands
from spectra_distill.errors import SpectraDataError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spectra-distill", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        doc = (module.__doc__ or info.name).strip().split("\n")[0]
        p = sub.add_parser(info.name.replace("_", "-"), help=doc, description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # what a command records of its own invocation (train: into checkpoints, and so model cards)
    args.invocation = shlex.join(["spectra-distill", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args._run(args) or 0)
    except SpectraDataError as exc:
        print(f"spectra-distill: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

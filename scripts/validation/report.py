"""The one layout of every validation report: how to regenerate it, what it measures, the table."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def write_report(out: Path, command: str, description: str, table: list[str]) -> None:
    """Write (and print) `out`: the command that regenerates it, a description paragraph, the table."""
    lines = [f"Regenerate: `{command}`", "", description, "", *table]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def comparison_table(
    rows: list[dict], base: str, base_label: str, columns: list[tuple[str, Any, bool]]
) -> list[str]:
    """Per model and case, the mean PSNR of the `base` setting and of each column's (label, row key, shipped),
    with its change from `base` on the mean and on the worst region; the shipped column in bold."""
    labels = " | ".join(f"{label}{' (shipped)' if shipped else ''}" for label, _, shipped in columns)
    lines = [
        f"| model | case | regions | {base_label} | {labels} |",
        "|---|---|---|---|" + "---|" * len(columns),
    ]
    for model in dict.fromkeys(r["model"] for r in rows):
        for case in dict.fromkeys(r["case"] for r in rows if r["model"] == model):
            mine = [r for r in rows if r["model"] == model and r["case"] == case]
            reference = np.mean([r[base] for r in mine])
            cells = []
            for _, key, shipped in columns:
                mean = np.mean([r[key] for r in mine])
                worst = min(r[key] - r[base] for r in mine)
                cell = f"{mean:.2f} ({mean - reference:+.2f}; worst {worst:+.2f})"
                cells.append(f"**{cell}**" if shipped else cell)
            lines.append(f"| {model} | {case} | {len(mine)} | {reference:.2f} | " + " | ".join(cells) + " |")
    return lines


def validation_main(
    doc: str,
    script: str,
    default_out: str,
    rows_for: Callable[[str, Path], list[dict]],
    table: Callable[[list[dict]], list[str]],
    description: str,
) -> None:
    """The command line of a validation script that scores students' `.weights.pt` on their validation
    regions: `rows_for(weights, data_root)` per student, one report (`write_report`) at `--out`."""
    from spectra_distill.data import default_data_root

    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("weights", nargs="+", help="students' .weights.pt")
    p.add_argument("--out", type=Path, default=Path(default_out))
    args = p.parse_args()
    root = default_data_root().resolve()
    rows = [row for weights in args.weights for row in rows_for(weights, root)]
    command = f".venv/bin/python scripts/validation/{script} {' '.join(args.weights)}"
    write_report(args.out, command, description, table(rows))

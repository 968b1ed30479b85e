"""The one layout of every validation report: how to regenerate it, what it measures, the table."""

from __future__ import annotations

from pathlib import Path


def write_report(out: Path, command: str, description: str, table: list[str]) -> None:
    """Write (and print) `out`: the command that regenerates it, a description paragraph, the table."""
    lines = [f"Regenerate: `{command}`", "", description, "", *table]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

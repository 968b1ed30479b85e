"""The evaluation page (Markdown) and the atomic writes of JSON + Markdown."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spectra_distill.data.atomic import atomic_path


def _fmt(v: Any, digits: int) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _params(v: int | None) -> str:
    return "-" if v is None else f"{v / 1e6:.3f}M" if v >= 1e5 else f"{v:,}"


def _score_table(rows: Sequence[dict[str, Any]], methods: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| method | regions | PSNR (dB) | SAM (deg) | ERGAS | RMSE | SSIM | params | GMACs / scene "
        "| ms / scene |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m = methods.get(r["method"], {})
        tiled = " (tiled)" if r.get("tiled") else ""
        lines.append(
            f"| {r['method']} | {r['regions']} | {_fmt(r['psnr'], 2)} | {_fmt(r['sam'], 2)} | "
            f"{_fmt(r['ergas'], 2)} | {_fmt(r['rmse'], 4)} | {_fmt(r['ssim'], 3)} | "
            f"{_params(m.get('params'))} | {'-' if r['gmacs'] is None else _fmt(r['gmacs'], 3)} | "
            f"{_fmt(r['ms'], 1)}{tiled} |"
        )
    return lines


def to_markdown(report: dict[str, Any]) -> str:
    """The page: provenance, regions, per-dataset tables, misregistration table, real pairs, figures."""
    methods = {m["name"]: m for m in report["methods"]}
    model = report["model"]
    lo, hi = model["wavelengths_nm"]
    lines = [
        f"# Evaluation: `{report['checkpoint']}` ({report['role']} regions)",
        "",
        f"Regenerate: `{report['command']}`",
        "",
        f"Model: {model['bands']} bands {lo:.0f}-{hi:.0f} nm, "
        f"HR-MSI `{model['msi']}` ({', '.join(model['msi_bands'])}), x{model['scale']}, PSF sigma "
        f"{model['psf']['sigma']} / {model['psf']['kernel_size']} taps; trained on "
        f"{', '.join(model['datasets'])} "
        f"(split `{report['train_split']}`, step {report['step']}). Scored: split `{report['split']}`, "
        f"{report['role']} regions only, each checked disjoint from the training regions.",
        "",
        "Each region is fused whole (one forward per region; tiles only if it does not fit in memory, marked "
        "*tiled*). Clean Wald pairs (no noise). Metrics (`distill/METRICS.md`) on valid pixels and on bands "
        "valid in the region and learnt by the model; PSNR peak = per-band ground-truth max; RMSE in 0..1 "
        "physical units. Scores are means over a dataset's regions. ms = wall time of one fusion after one "
        f"untimed warm-up, on `{report['device']}`; GMACs from the models' flop counter "
        "(multiply-accumulates, convs and matrix products).",
        "",
        "## Regions",
        "",
        "| region | dataset | window (top, left, h, w) | HR size | valid pixels | scored bands |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["regions"]:
        lines.append(
            f"| {r['key']} | {r['dataset']} | {tuple(r['window'])} | {r['hr_size'][0]}x{r['hr_size'][1]} | "
            f"{100 * r['valid_fraction']:.1f} % | {r['scored_bands']} |"
        )
    aligned = [r for r in report["per_dataset"] if r["misregistration_px"] == 0]
    for dataset in dict.fromkeys(r["dataset"] for r in aligned):
        lines += ["", f"## {dataset} ({report['role']})", ""]
        lines += _score_table([r for r in aligned if r["dataset"] == dataset], methods)
    shifts = sorted({r["misregistration_px"] for r in report["misregistration"]})
    if shifts:
        lines += [
            "",
            "## Robustness to LR-HSI misregistration",
            "",
            "The LR-HSI is simulated from the reference shifted by k HR pixels (rows and columns, mirrored "
            "edges) before blur and decimation; the HR-MSI stays aligned. Mean over datasets of the "
            "per-dataset means.",
            "",
            "| method | "
            + " | ".join(f"PSNR @{k}px" for k in shifts)
            + " | "
            + " | ".join(f"SAM @{k}px" for k in shifts)
            + " |",
            "|---|" + "---|" * (2 * len(shifts)),
        ]
        by = {(r["method"], r["misregistration_px"]): r for r in report["misregistration"]}
        for name in dict.fromkeys(r["method"] for r in report["misregistration"]):
            psnr = [_fmt(by.get((name, k), {}).get("psnr"), 2) for k in shifts]
            sam = [_fmt(by.get((name, k), {}).get("sam"), 2) for k in shifts]
            lines.append(f"| {name} | " + " | ".join(psnr) + " | " + " | ".join(sam) + " |")
    real = report["real_pair"]["per_dataset"]
    if real:
        lines += [
            "",
            "## Real pair (real co-registered HR-MSI)",
            "",
            "Reduced-resolution protocol: the HSI and its real RGB are both degraded by the scale with the "
            "model's PSF; the original HSI is the reference. The real RGB's radiometry differs from the "
            "simulated MSI the model learnt from, so this measures transfer to a real sensor pair. Pixels in "
            "the RGB mosaic gap are excluded.",
            "",
        ]
        for dataset in dict.fromkeys(r["dataset"] for r in real):
            lines += [f"### {dataset}", ""]
            lines += _score_table([r for r in real if r["dataset"] == dataset], methods)
            lines.append("")
    if report["skipped"]:
        lines += ["", "## Skipped", ""]
        lines += [f"- {s['what']}: {s['reason']}" for s in report["skipped"]]
    if report["notes"]:
        lines += ["", "## Notes", ""]
        lines += [f"- {n}" for n in report["notes"]]
    if report["figures"]:
        lines += ["", "## Figures", ""]
        lines += [f"- [{Path(f).name}]({f})" for f in report["figures"]]
    lines.append("")
    return "\n".join(lines)


def write_report(report: dict[str, Any], out: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<out>/<stem>.json`` and ``<out>/<stem>.md`` (each via a temporary file and a rename)."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    for path, text in ((json_path, json.dumps(report, indent=1) + "\n"), (md_path, to_markdown(report))):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    return json_path, md_path

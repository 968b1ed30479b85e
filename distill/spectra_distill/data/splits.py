"""Train/val/test splits declared by scene and by spatial region.

A split YAML (packaged in ``spectra_distill/splits/<name>.yaml``) gives each scene a role:

- ``train``: the scene is cut into regions. The ``test_region`` strip (if any) is carved off first, then
  the ``val_region`` strip from what remains; the rest is the train region. So the three never overlap and
  validation pixels are never sampled for training.
- ``val`` / ``test``: the whole scene belongs to that role.

Region boundaries are multiples of ``align`` (8: scales 4 and 8 both divide) and every region's height and
width are trimmed down to multiples of ``align`` (the trimmed rows/columns at the far edge are unused).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from spectra_distill.data.cube import Cube
from spectra_distill.errors import DatasetError, ScaleError

ROLES = ("train", "val", "test")
SIDES = ("right", "left", "bottom", "top")


@dataclass(frozen=True)
class RegionRule:
    """A strip held out along one side of a rectangle: ``fraction`` of its width (left/right) or height."""

    side: str
    fraction: float


@dataclass(frozen=True)
class Window:
    """A rectangle in scene pixels: rows top..top+height, cols left..left+width."""

    top: int
    left: int
    height: int
    width: int

    def overlaps(self, other: Window) -> bool:
        return (
            self.top < other.top + other.height
            and other.top < self.top + self.height
            and self.left < other.left + other.width
            and other.left < self.left + self.width
        )

    def scaled(self, s: int) -> Window:
        return Window(self.top * s, self.left * s, self.height * s, self.width * s)


@dataclass(frozen=True)
class SceneSplit:
    """A scene's role, its region rules (None: none held out) and notes.

    Attributes:
        role: 'train' (cut into regions), 'val' or 'test' (whole scene).
        val_region: Overrides the spec's rule for this scene.
        test_region: Overrides the spec's rule for this scene.
        real_pair: The scene has a real HR-MSI (``load_msi``) for fusion without simulation.
        reason: Why the scene has this role.
    """

    role: str
    val_region: RegionRule | None = None
    test_region: RegionRule | None = None
    real_pair: bool = False
    reason: str = ""


@dataclass(frozen=True)
class ModelGroup:
    """Scenes pooled to train one model on one band grid (a key of ``resample.GRIDS``)."""

    grid: str
    scenes: tuple[str, ...]
    notes: str = ""


@dataclass(frozen=True)
class SplitSpec:
    """A parsed split file. See the module docstring for the region rule."""

    name: str
    align: int
    scenes: dict[str, SceneSplit]
    exclude: dict[str, str] = field(default_factory=dict)
    groups: dict[str, ModelGroup] = field(default_factory=dict)
    source: Path | None = None

    def scenes_with_role(self, role: str) -> list[str]:
        """Scenes that contribute pixels to ``role`` (train scenes contribute to all three)."""
        _check_role(role)
        out = []
        for name, s in self.scenes.items():
            if s.role == role or (s.role == "train" and (role == "train" or _rule(s, role) is not None)):
                out.append(name)
        return out


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; known: {', '.join(ROLES)}")


def _rule(s: SceneSplit, role: str) -> RegionRule | None:
    return s.val_region if role == "val" else s.test_region if role == "test" else None


def _parse_rule(raw: Any, where: str, path: Path) -> RegionRule | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"side", "fraction"}:
        raise DatasetError(f"{where} must be {{side, fraction}} or null; got {raw!r}", path)
    if raw["side"] not in SIDES:
        raise DatasetError(f"{where}.side {raw['side']!r} unknown; known: {', '.join(SIDES)}", path)
    frac = float(raw["fraction"])
    if not 0.0 < frac < 1.0:
        raise DatasetError(f"{where}.fraction must be in (0, 1); got {frac}", path)
    return RegionRule(raw["side"], frac)


def parse_split(raw: Any, path: Path) -> SplitSpec:
    """Build a SplitSpec from parsed YAML.

    Raises:
        DatasetError: unknown keys or roles, bad rules, a scene both assigned and excluded, or a group
            naming a scene the split does not assign.
    """
    if not isinstance(raw, dict):
        raise DatasetError("Split file must be a YAML mapping", path)
    known = {"name", "align", "val_region", "test_region", "scenes", "exclude", "groups", "notes"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise DatasetError(f"Split file has unknown keys {unknown}; known: {', '.join(sorted(known))}", path)
    align = int(raw.get("align", 8))
    if align < 1:
        raise DatasetError(f"align must be >= 1; got {align}", path)
    default_val = _parse_rule(raw.get("val_region"), "val_region", path)
    default_test = _parse_rule(raw.get("test_region"), "test_region", path)
    scenes: dict[str, SceneSplit] = {}
    for name, entry in (raw.get("scenes") or {}).items():
        entry = entry or {}
        extra = sorted(set(entry) - {"role", "val_region", "test_region", "real_pair", "reason"})
        if extra:
            raise DatasetError(f"scenes.{name} has unknown keys {extra}", path)
        role = entry.get("role")
        if role not in ROLES:
            raise DatasetError(f"scenes.{name}.role must be one of {', '.join(ROLES)}; got {role!r}", path)
        val = (
            _parse_rule(entry["val_region"], f"scenes.{name}.val_region", path)
            if "val_region" in entry
            else default_val
        )
        test = (
            _parse_rule(entry["test_region"], f"scenes.{name}.test_region", path)
            if "test_region" in entry
            else default_test
        )
        scenes[name] = SceneSplit(
            role, val, test, bool(entry.get("real_pair", False)), str(entry.get("reason", ""))
        )
    exclude = {str(k): str(v) for k, v in (raw.get("exclude") or {}).items()}
    both = sorted(set(exclude) & set(scenes))
    if both:
        raise DatasetError(f"Scenes both assigned and excluded: {both}", path)
    empty = sorted(k for k, v in exclude.items() if not v.strip())
    if empty:
        raise DatasetError(f"Excluded scenes need a reason: {empty}", path)
    groups: dict[str, ModelGroup] = {}
    for gname, g in (raw.get("groups") or {}).items():
        if not isinstance(g, dict) or "grid" not in g or "scenes" not in g:
            raise DatasetError(f"groups.{gname} needs 'grid' and 'scenes'", path)
        missing = sorted(set(g["scenes"]) - set(scenes))
        if missing:
            raise DatasetError(f"groups.{gname} names scenes the split does not assign: {missing}", path)
        groups[gname] = ModelGroup(str(g["grid"]), tuple(g["scenes"]), str(g.get("notes", "")))
    return SplitSpec(str(raw.get("name", path.stem)), align, scenes, exclude, groups, path)


def load_split(name_or_path: str | Path = "default") -> SplitSpec:
    """Load a packaged split by name (``default``) or a split YAML by path.

    Raises:
        DatasetError: unknown name (lists the packaged ones), unreadable file, or a bad spec.
    """
    p = Path(name_or_path)
    if not (p.suffix in (".yaml", ".yml") and p.is_file()):
        pkg = resources.files("spectra_distill") / "splits"
        packaged = {
            e.name.removesuffix(".yaml"): Path(str(e)) for e in pkg.iterdir() if e.name.endswith(".yaml")
        }
        if str(name_or_path) not in packaged:
            raise DatasetError(
                f"Unknown split {str(name_or_path)!r}; packaged: {', '.join(sorted(packaged))} "
                "(or pass a .yaml path)"
            )
        p = packaged[str(name_or_path)]
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DatasetError(f"Split file is not valid YAML: {exc}", p) from exc
    return parse_split(raw, p)


def _carve(rect: Window, rule: RegionRule, align: int) -> tuple[Window, Window]:
    """Split ``rect`` into (kept, strip), the strip on ``rule.side``; the boundary is a multiple of align."""
    horizontal = rule.side in ("left", "right")
    extent = rect.width if horizontal else rect.height
    if rule.side in ("right", "bottom"):
        cut = (int(extent * (1.0 - rule.fraction)) // align) * align
        near, far = cut, extent - cut
        first_is_kept = True
    else:
        cut = -(-int(round(extent * rule.fraction)) // align) * align
        near, far = min(cut, extent), extent - min(cut, extent)
        first_is_kept = False
    if horizontal:
        a = Window(rect.top, rect.left, rect.height, near)
        b = Window(rect.top, rect.left + near, rect.height, far)
    else:
        a = Window(rect.top, rect.left, near, rect.width)
        b = Window(rect.top + near, rect.left, far, rect.width)
    return (a, b) if first_is_kept else (b, a)


def _trim(w: Window, align: int) -> Window:
    return Window(w.top, w.left, (w.height // align) * align, (w.width // align) * align)


def scene_regions(scene: str, height: int, width: int, spec: SplitSpec) -> dict[str, list[Window]]:
    """The train/val/test windows of a scene of ``height`` x ``width`` pixels.

    Raises:
        DatasetError: the scene is excluded (names the reason) or not in the split.
    """
    if scene in spec.exclude:
        raise DatasetError(
            f"Scene {scene!r} is excluded from split {spec.name!r}: {spec.exclude[scene]}", spec.source
        )
    if scene not in spec.scenes:
        raise DatasetError(
            f"Scene {scene!r} is not in split {spec.name!r}; it assigns {', '.join(spec.scenes)}", spec.source
        )
    s = spec.scenes[scene]
    full = Window(0, 0, height, width)
    out: dict[str, list[Window]] = {r: [] for r in ROLES}
    if s.role != "train":
        out[s.role].append(_trim(full, spec.align))
    else:
        rest = full
        if s.test_region is not None:
            rest, test = _carve(rest, s.test_region, spec.align)
            out["test"].append(_trim(test, spec.align))
        if s.val_region is not None:
            rest, val = _carve(rest, s.val_region, spec.align)
            out["val"].append(_trim(val, spec.align))
        out["train"].append(_trim(rest, spec.align))
    return {r: [w for w in ws if w.height > 0 and w.width > 0] for r, ws in out.items()}


def split_scene(cube: Cube, spec: SplitSpec, role: str, pixel_scale: int = 1) -> list[Cube]:
    """Crop a scene to its regions for ``role``.

    Args:
        cube: A scene from ``load_scenes`` (its ``provenance['scene']`` names it in the split), or that
            scene's companion HR-MSI with ``pixel_scale`` = its resolution ratio to the scene.
        spec: From ``load_split``.
        role: 'train', 'val' or 'test'.
        pixel_scale: The cube is this many times finer than the scene grid the regions are defined on.

    Returns:
        Region crops (possibly none); each keeps its masks and records ``split`` and ``role`` in provenance.

    Raises:
        DatasetError: the cube names no scene, or the scene is excluded / not in the split.
        ScaleError: the cube's size is not divisible by ``pixel_scale``.
        ValueError: unknown role.
    """
    _check_role(role)
    scene = cube.provenance.get("scene")
    if scene is None:
        raise DatasetError(
            "Cube provenance has no 'scene'; load it with load_scenes", cube.provenance.get("path")
        )
    if cube.height % pixel_scale or cube.width % pixel_scale:
        raise ScaleError(f"Cube {cube.height}x{cube.width} is not divisible by pixel_scale {pixel_scale}")
    windows = scene_regions(scene, cube.height // pixel_scale, cube.width // pixel_scale, spec)[role]
    out = []
    for w in windows:
        ws = w.scaled(pixel_scale)
        c = cube.crop(ws.top, ws.left, ws.height, ws.width)
        out.append(replace(c, provenance={**c.provenance, "split": spec.name, "role": role}))
    return out


def window_of(cube: Cube) -> Window:
    """The cube's window in scene pixels: its provenance origin (`split_scene` records it) and its size."""
    top, left = cube.provenance.get("window", [0, 0])[:2]
    return Window(int(top), int(left), cube.height, cube.width)


def assert_disjoint(region: Cube, scene_size: tuple[int, int], train_spec: SplitSpec) -> None:
    """Refuse a region that overlaps the training region of its scene under the model's training split.

    Raises:
        DatasetError: the region overlaps training pixels (names the scene and both windows).
    """
    scene = str(region.provenance["scene"])
    window = window_of(region)
    for train in scene_regions(scene, *scene_size, train_spec)["train"]:
        if window.overlaps(train):
            raise DatasetError(
                f"region {window} of scene {scene!r} overlaps the training region {train} of split "
                f"{train_spec.name!r}; evaluating there would score training pixels",
                region.provenance.get("path"),
            )


def check_split(spec: SplitSpec, scene_names: list[str]) -> None:
    """Require every discovered scene to be assigned or excluded with a reason.

    Raises:
        DatasetError: lists the scenes the split does not mention.
    """
    missing = sorted(set(scene_names) - set(spec.scenes) - set(spec.exclude))
    if missing:
        raise DatasetError(f"Split {spec.name!r} neither assigns nor excludes scenes {missing}", spec.source)

"""Seeded synthetic hyperspectral scenes on any band grid: real spectra placed by real spatial structure.

One scene = K endmember spectra drawn from the real spectral libraries (USGS 1995, earthlib), resampled onto
the requested grid, mixed linearly by K soft abundance maps derived from a random crop of a real photograph
(or a Sentinel-2 10 m patch), times a shading map from the photo's luminance, with smooth per-pixel
multiplicative spectral variability of each endmember. Everything random comes from
``numpy.random.default_rng([seed, index])`` and none of it depends on the band grid, so the same (seed, index)
is the same physical scene on every grid (up to the grids' band integration).

The photographs are research-licensed: they are read from the data root, never copied (see SOURCES.md 16-22).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spectra_distill.data.cube import Cube
from spectra_distill.data.descriptors import default_data_root
from spectra_distill.data.spectra import load_library
from spectra_distill.errors import DatasetError, WavelengthError

#: FWHM = FWHM_PER_SIGMA * sigma for a Gaussian band.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
#: The libraries are interpolated onto this 1 nm grid (constant beyond their ends) before band integration.
DENSE_GRID = (350.0, 2600.0, 1.0)
#: Spectral-variability basis: physical wavelengths are mapped to u in [0, 1] over this range.
VARIABILITY_RANGE = (350.0, 2600.0)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Decoded photographs kept in memory (about 1-2.4 MB each).
IMAGE_CACHE_SIZE = 48


@dataclass(frozen=True)
class SyntheticSceneConfig:
    """How synthetic scenes are drawn.

    Attributes:
        size: Output (H, W), or one int for a square scene.
        endmembers: Inclusive range of the number K of endmember spectra per scene.
        temperature: Range of the soft-clustering temperature, drawn log-uniformly: small values give hard,
            segment-like abundances with sharp edges, large values smooth mixtures.
        texture_weight: Weight of the local-detail feature (|luminance - blurred luminance|) next to colour.
        zoom: Range of the crop side / output side, drawn log-uniformly (capped by the photo size); 1 keeps
            the photo's pixel scale, larger values shrink more of the photo into the scene.
        shading: Maximum shading strength s: shading = 1 - s + s * normalised luminance, s ~ U(0, shading).
        variability: Maximum standard deviation of the per-pixel multiplicative endmember perturbation
            (fraction; 0.03 = a few %), drawn per scene as U(0.5, 1) * variability.
        variability_cells: Spatial correlation of the variability fields: noise on this many cells per side,
            bilinearly upsampled.
        endmember_gain: Range of a per-endmember brightness factor (library spectra are mostly bright
            laboratory samples).
        image_sets: Sub-folders of ``natural_images`` to draw photographs from; empty = all.
        ms_tile_fraction: Probability of taking the structure from a Sentinel-2 10 m patch (``ms_tiles``)
            instead of a photograph.
        libraries: Spectral libraries (``load_library`` names) pooled as the endmember source.
        include_simulated: Keep earthlib's PROSAIL-simulated vegetation spectra (LEVEL_4 'simulated').
    """

    size: int | tuple[int, int] = 128
    endmembers: tuple[int, int] = (3, 8)
    temperature: tuple[float, float] = (0.03, 1.0)
    texture_weight: float = 1.0
    zoom: tuple[float, float] = (1.0, 3.0)
    shading: float = 0.4
    variability: float = 0.03
    variability_cells: int = 6
    endmember_gain: tuple[float, float] = (0.5, 1.0)
    image_sets: tuple[str, ...] = ()
    ms_tile_fraction: float = 0.1
    libraries: tuple[str, ...] = ("usgs1995_aviris224", "earthlib_optimized")
    include_simulated: bool = True

    def __post_init__(self) -> None:
        lo, hi = self.endmembers
        if not 1 <= lo <= hi:
            raise ValueError(f"endmembers must be (lo, hi) with 1 <= lo <= hi; got {self.endmembers}")
        if not 0 < self.temperature[0] <= self.temperature[1]:
            raise ValueError(f"temperature must be (lo, hi) with 0 < lo <= hi; got {self.temperature}")
        if not 1 <= self.zoom[0] <= self.zoom[1]:
            raise ValueError(f"zoom must be (lo, hi) with 1 <= lo <= hi; got {self.zoom}")
        if not 0 <= self.shading < 1:
            raise ValueError(f"shading must be in [0, 1); got {self.shading}")
        if not 0 <= self.ms_tile_fraction <= 1:
            raise ValueError(f"ms_tile_fraction must be in [0, 1]; got {self.ms_tile_fraction}")
        if self.variability < 0 or self.variability_cells < 2:
            raise ValueError("variability must be >= 0 and variability_cells >= 2")

    @property
    def hw(self) -> tuple[int, int]:
        if isinstance(self.size, int):
            return (self.size, self.size)
        return (int(self.size[0]), int(self.size[1]))


def soft_abundances(features: np.ndarray, centres: np.ndarray, temperature: float) -> np.ndarray:
    """Soft clustering of per-pixel features: softmax over K of negative squared distances to K centres.

    Distances are divided by their median over pixels and centres, so ``temperature`` is scale-free.

    Args:
        features: (H, W, C) float.
        centres: (K, C) float.
        temperature: > 0; small -> nearly hard assignment, large -> nearly uniform.

    Returns:
        (K, H, W) float32 abundances, non-negative, summing to one at every pixel.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    h, w, c = features.shape
    f = features.reshape(-1, c).astype(np.float32)
    cen = np.asarray(centres, dtype=np.float32)
    d2 = (f * f).sum(1)[:, None] - 2.0 * f @ cen.T + (cen * cen).sum(1)[None, :]
    d2 = np.maximum(d2, 0.0)
    scale = float(np.median(d2)) + 1e-6
    logits = -d2 / (temperature * scale)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    e /= e.sum(axis=1, keepdims=True)
    return np.ascontiguousarray(e.T.reshape(-1, h, w))


# --- cached inputs -----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _image_paths(root: str, image_sets: tuple[str, ...]) -> tuple[Path, ...]:
    base = Path(root) / "natural_images"
    sets = image_sets or tuple(sorted(p.name for p in base.glob("*/") if p.is_dir()))
    paths = sorted(
        p for s in sets for p in (base / s).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
    return tuple(paths)


@functools.lru_cache(maxsize=8)
def _ms_tile_paths(root: str) -> tuple[Path, ...]:
    return tuple(sorted((Path(root) / "ms_tiles").glob("*/*_10m_*x*x4_uint16.npy")))


@functools.lru_cache(maxsize=IMAGE_CACHE_SIZE)
def _decoded_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8, read-only."""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    arr.setflags(write=False)
    return arr


@functools.lru_cache(maxsize=8)
def _ms_tile(path: Path) -> np.ndarray:
    """(H, W, 4) float32 reflectance (B02, B03, B04, B08 / 1e4), read-only."""
    arr = np.clip(np.load(path).astype(np.float32) / 10000.0, 0.0, 1.5)
    arr.setflags(write=False)
    return arr


@functools.lru_cache(maxsize=4)
def _library_pool(root: str, libraries: tuple[str, ...], include_simulated: bool) -> tuple[np.ndarray, tuple]:
    """All library spectra on the dense 1 nm grid: ((N, D) float64, names)."""
    lo, hi, step = DENSE_GRID
    dense = np.arange(lo, hi + step / 2, step)
    rows, names = [], []
    for lib_name in libraries:
        lib = load_library(lib_name, root=root)
        order = np.argsort(lib.wavelengths, kind="stable")
        wl = lib.wavelengths[order]
        for name, spec in zip(lib.names, lib.spectra, strict=True):
            if not include_simulated and name.lower().endswith("|simulated"):
                continue
            s = spec[order]
            if not np.all(np.isfinite(s)) or s.max() < 0.02:
                continue
            rows.append(np.clip(np.interp(dense, wl, s), 0.0, None))
            names.append(f"{lib_name}:{name}")
    if not rows:
        raise DatasetError(f"No usable spectra in libraries {list(libraries)}", Path(root))
    pool = np.stack(rows)
    pool.setflags(write=False)
    return pool, tuple(names)


@functools.lru_cache(maxsize=16)
def _pool_on_grid(
    root: str, libraries: tuple[str, ...], include_simulated: bool, wl: tuple, fwhm: tuple
) -> tuple[np.ndarray, tuple]:
    """Pool integrated over Gaussian bands (centres ``wl``, widths ``fwhm``): ((N, B) float32, names)."""
    pool, names = _library_pool(root, libraries, include_simulated)
    lo, hi, step = DENSE_GRID
    dense = np.arange(lo, hi + step / 2, step)
    c = np.clip(np.asarray(wl), lo, hi)[:, None]
    sigma = np.maximum(np.asarray(fwhm), step)[:, None] / FWHM_PER_SIGMA
    w = np.exp(-0.5 * ((dense[None, :] - c) / sigma) ** 2)
    w /= w.sum(axis=1, keepdims=True)
    out = (pool @ w.T).astype(np.float32)
    out.setflags(write=False)
    return out, names


def _median_spacing(wl: np.ndarray) -> float:
    d = np.diff(np.sort(wl))
    d = d[d > 0]
    if d.size == 0:
        raise WavelengthError("Need two distinct wavelengths, or an explicit fwhm, to infer band widths")
    return float(np.median(d))


# --- structure ---------------------------------------------------------------------------------------------


def _resize_crop(arr: np.ndarray, box: tuple[int, int, int, int], hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``arr[top:top+ch, left:left+cw]`` (H, W, C) to ``hw``; float32 output."""
    from PIL import Image

    top, left, ch, cw = box
    h, w = hw
    pil_box = (left, top, left + cw, top + ch)
    if arr.dtype == np.uint8:
        im = Image.fromarray(arr).resize((w, h), Image.Resampling.BILINEAR, box=pil_box)
        return np.asarray(im, dtype=np.float32) / 255.0
    chans = [
        np.asarray(Image.fromarray(np.ascontiguousarray(arr[..., k])).resize(
            (w, h), Image.Resampling.BILINEAR, box=pil_box))
        for k in range(arr.shape[-1])
    ]  # fmt: skip
    return np.stack(chans, axis=-1).astype(np.float32)


def _structure(
    rng: np.random.Generator, cfg: SyntheticSceneConfig, root: str
) -> tuple[np.ndarray, np.ndarray, str, list[int]]:
    """A random crop of a photograph or S2 patch: ((H, W, C) colour in ~0..1, (H, W) luminance, path, box)."""
    photos = _image_paths(root, cfg.image_sets)
    tiles = _ms_tile_paths(root) if cfg.ms_tile_fraction > 0 else ()
    use_tile = bool(tiles) and rng.random() < cfg.ms_tile_fraction
    if not use_tile and not photos:
        raise DatasetError(
            f"No photographs under natural_images/{'|'.join(cfg.image_sets) or '*'} (png/jpg)", Path(root)
        )
    path = tiles[rng.integers(len(tiles))] if use_tile else photos[rng.integers(len(photos))]
    src = _ms_tile(path) if use_tile else _decoded_image(path)
    h, w = cfg.hw
    sh, sw = src.shape[:2]
    zmax = min(cfg.zoom[1], sh / h, sw / w)
    zoom = math.exp(rng.uniform(math.log(cfg.zoom[0]), math.log(max(zmax, cfg.zoom[0]))))
    ch, cw = max(2, min(sh, round(h * zoom))), max(2, min(sw, round(w * zoom)))
    top, left = int(rng.integers(sh - ch + 1)), int(rng.integers(sw - cw + 1))
    img = _resize_crop(src, (top, left, ch, cw), (h, w))
    flip, rot = rng.integers(2), rng.integers(4)
    if flip:
        img = img[:, ::-1]
    if h == w:
        img = np.rot90(img, k=int(rot))
    img = np.ascontiguousarray(img)
    lum = img[..., :3].mean(axis=-1) if use_tile else img @ np.array([0.299, 0.587, 0.114], np.float32)
    return img, lum, str(path), [top, left, ch, cw]


def _detail(lum: np.ndarray) -> np.ndarray:
    """|luminance - 5x5 box blur| (edge-padded), a cheap local-texture feature."""
    from scipy.ndimage import uniform_filter

    return np.abs(lum - uniform_filter(lum, size=5, mode="nearest"))


def _upsample_bilinear(noise: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(..., n, n) -> (..., H, W) by separable linear interpolation."""
    n = noise.shape[-1]

    def interp_matrix(m: int) -> np.ndarray:
        x = np.linspace(0, n - 1, m)
        i0 = np.clip(np.floor(x).astype(int), 0, n - 2)
        t = x - i0
        u = np.zeros((m, n), np.float32)
        u[np.arange(m), i0] = 1 - t
        u[np.arange(m), i0 + 1] = t
        return u

    uh, uw = interp_matrix(hw[0]), interp_matrix(hw[1])
    return np.matmul(uh, np.matmul(noise.astype(np.float32), uw.T))


# --- the generator -----------------------------------------------------------------------------------------


def synthetic_scene(
    wavelengths: np.ndarray,
    fwhm: np.ndarray | None = None,
    index: int = 0,
    seed: int = 0,
    cfg: SyntheticSceneConfig | None = None,
    root: str | Path | None = None,
) -> Cube:
    """One synthetic scene on the band grid ``wavelengths`` (nm), deterministic for (seed, index, cfg, root).

    x(λ, p) = shading(p) * Σ_k A_k(p) g_k E_k(λ) (1 + v Σ_j a_kj(p) φ_j(λ)), clipped to [0, 1]:
    E_k library spectra integrated over Gaussian bands (``fwhm``, default the grid's median spacing), g_k a
    brightness factor, A_k soft abundances of the photo crop's colour and local detail (sum to one), a_kj
    smooth unit-variance spatial fields and φ_j = (1, 2u - 1, cos 2πu) of the physical wavelength.

    Args:
        wavelengths: (B,) target centres in nm (any order; beyond the libraries' 383-2508 nm the spectra are
            extended as constants).
        fwhm: (B,) target widths in nm, or None.
        index: Scene index; each (seed, index) is an independent draw.
        seed: Stream seed.
        cfg: Drawing parameters; default ``SyntheticSceneConfig()``.
        root: Data root holding ``natural_images``, ``ms_tiles`` and ``spectral_libraries``; default
            ``default_data_root()``.

    Returns:
        Cube float32 (B, H, W) reflectance in [0, 1], all pixels and bands valid; provenance: dataset
        'synthetic', scene f'synthetic_{index}', seed, index, path (the photo or S2 patch read), crop
        [top, left, h, w], endmember names, temperature, shading, variability.

    Raises:
        DatasetError: no photographs or spectra under ``root``. WavelengthError: bad grid.
    """
    cfg = cfg or SyntheticSceneConfig()
    base = str(Path(root) if root is not None else default_data_root())
    wl = np.asarray(wavelengths, dtype=np.float64).reshape(-1)
    if wl.size == 0 or not np.all(np.isfinite(wl)):
        raise WavelengthError(f"wavelengths must be a non-empty finite (B,) array; got shape {wl.shape}")
    fw = np.full(wl.shape, _median_spacing(wl)) if fwhm is None else np.asarray(fwhm, np.float64).reshape(-1)
    if fw.shape != wl.shape or not np.all(fw > 0):
        raise WavelengthError(f"fwhm must be positive with shape {wl.shape}; got {fw.shape}")
    lib, names = _pool_on_grid(
        base, tuple(cfg.libraries), cfg.include_simulated, tuple(wl.tolist()), tuple(fw.tolist())
    )
    rng = np.random.default_rng([int(seed), int(index)])
    h, w = cfg.hw

    img, lum, src_path, box = _structure(rng, cfg, base)
    k = int(rng.integers(cfg.endmembers[0], cfg.endmembers[1] + 1))
    chosen = rng.choice(len(names), size=k, replace=len(names) < k)
    gains = rng.uniform(*cfg.endmember_gain, size=k).astype(np.float32)
    feats = np.concatenate([img, cfg.texture_weight * _detail(lum)[..., None]], axis=-1)
    pix = rng.integers(h * w, size=k)
    centres = feats.reshape(-1, feats.shape[-1])[pix]
    temperature = math.exp(rng.uniform(math.log(cfg.temperature[0]), math.log(cfg.temperature[1])))
    abund = soft_abundances(feats, centres, temperature).reshape(k, -1)  # (K, HW)

    s = float(rng.uniform(0.0, cfg.shading))
    lnorm = np.clip(lum / max(float(np.percentile(lum, 99)), 1e-3), 0.0, 1.0)
    shading = ((1.0 - s) + s * lnorm).reshape(-1).astype(np.float32)

    v = float(rng.uniform(0.5, 1.0) * cfg.variability)
    n = cfg.variability_cells
    fields = _upsample_bilinear(rng.standard_normal((k, 3, n, n)).astype(np.float32), (h, w))
    fields = fields.reshape(k, 3, -1)
    fields /= fields.std(axis=-1, keepdims=True) + 1e-6
    u = np.clip((wl - VARIABILITY_RANGE[0]) / (VARIABILITY_RANGE[1] - VARIABILITY_RANGE[0]), 0.0, 1.0)
    phi = np.stack([np.ones_like(u), 2 * u - 1, np.cos(2 * np.pi * u)]).astype(np.float32) / math.sqrt(3)

    ends = lib[chosen] * gains[:, None]  # (K, B)
    weights = np.concatenate([abund, (v * abund[:, None, :] * fields).reshape(k * 3, -1)])  # (K + 3K, HW)
    weights *= shading[None, :]  # shading folded into the (4K, HW) weights, not the (B, HW) output
    spectra = np.concatenate([ends, (ends[:, None, :] * phi[None]).reshape(k * 3, -1)])  # (K + 3K, B)
    x = spectra.T @ weights
    np.clip(x, 0.0, 1.0, out=x)
    prov = {
        "dataset": "synthetic",
        "scene": f"synthetic_{index}",
        "seed": int(seed),
        "index": int(index),
        "path": src_path,
        "crop": box,
        "sensor": "synthetic",
        "value_scale": 1.0,
        "approx_wavelengths": False,
        "partial": False,
        "endmembers": [names[i] for i in chosen],
        "temperature": temperature,
        "shading": s,
        "variability": v,
    }
    return Cube(data=x.reshape(-1, h, w), wavelengths=wl, fwhm=fw, provenance=prov)

"""Hyperspectral data: the Cube value, file readers and writers, dataset discovery, resampling, splits."""

from spectra_distill.data.cube import Cube
from spectra_distill.data.descriptors import DatasetDescriptor, default_data_root, discover, load_descriptor
from spectra_distill.data.envi import read_envi, write_envi
from spectra_distill.data.masks import valid_fraction, valid_patch_origins
from spectra_distill.data.readers import read_geotiff, read_npy_cube, write_npy_cube
from spectra_distill.data.resample import GRIDS, resample_cube, resampling_matrix
from spectra_distill.data.scenes import load_msi, load_scenes, scene_index
from spectra_distill.data.spectra import SpectralLibrary, SpectralResponse, load_library, load_srf
from spectra_distill.data.splits import SplitSpec, check_split, load_split, split_scene

__all__ = [
    "GRIDS",
    "Cube",
    "DatasetDescriptor",
    "SpectralLibrary",
    "SpectralResponse",
    "SplitSpec",
    "check_split",
    "default_data_root",
    "discover",
    "load_descriptor",
    "load_library",
    "load_msi",
    "load_scenes",
    "load_split",
    "load_srf",
    "read_envi",
    "read_geotiff",
    "read_npy_cube",
    "resample_cube",
    "resampling_matrix",
    "scene_index",
    "split_scene",
    "valid_fraction",
    "valid_patch_origins",
    "write_envi",
    "write_npy_cube",
]

from spectra_distill.data.synthetic import SyntheticSceneConfig, synthetic_scene  # noqa: E402

__all__ += ["SyntheticSceneConfig", "synthetic_scene"]

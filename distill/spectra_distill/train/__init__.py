"""Teacher/student training: configs, data, the co-training loop, checkpoints and logs."""

from spectra_distill.train.checkpoint import load_checkpoint, save_checkpoint
from spectra_distill.train.config import (
    DataConfig,
    KDConfig,
    LogConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    config_from_dict,
    load_config,
    save_config,
)
from spectra_distill.train.data import TrainData, ValRegion, build_data, make_train_data
from spectra_distill.train.run import run_training
from spectra_distill.train.trainer import DistInfo, Trainer, TrainResult

__all__ = [
    "DataConfig",
    "DistInfo",
    "KDConfig",
    "LogConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "TrainData",
    "TrainResult",
    "Trainer",
    "ValRegion",
    "build_data",
    "config_from_dict",
    "load_checkpoint",
    "load_config",
    "make_train_data",
    "run_training",
    "save_checkpoint",
    "save_config",
]

"""Full-reference fusion metrics (PSNR, SAM, ERGAS, RMSE, SSIM) with pixel and band masks."""

from spectra_distill.metrics.quality import FusionMetrics, ergas, evaluate, psnr, rmse, sam, ssim

__all__ = ["FusionMetrics", "ergas", "evaluate", "psnr", "rmse", "sam", "ssim"]

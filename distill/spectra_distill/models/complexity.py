"""Parameter and multiply-accumulate counts, computed on the meta device (no memory, no compute)."""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from spectra_distill.models.net import FusionNet, FusionNetConfig


@dataclass(frozen=True)
class Complexity:
    """Counts for one forward pass.

    Attributes:
        params: Trainable parameters.
        macs: Multiply-accumulates (FLOPs / 2, as ptflops and the paper count them) of the convs and
            matrix products; resampling, activations and element-wise ops are not counted.
        hr_pixels: N * H * W of the output the count refers to.
    """

    params: int
    macs: int
    hr_pixels: int

    @property
    def macs_per_hr_pixel(self) -> float:
        return self.macs / self.hr_pixels


def measure_complexity(config: FusionNetConfig, lr_height: int, lr_width: int, batch: int = 1) -> Complexity:
    """Count parameters and MACs of a FusionNet at an LR-HSI size of lr_height x lr_width.

    The model is built on the meta device, so even the paper teacher at 256 x 256 costs nothing.
    """
    with torch.device("meta"):
        model = FusionNet(config)
        lrhsi = torch.empty(batch, config.hsi_bands, lr_height, lr_width)
        hrmsi = torch.empty(batch, config.msi_bands, lr_height * config.scale, lr_width * config.scale)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(lrhsi, hrmsi)
    params = sum(p.numel() for p in model.parameters())
    hr_pixels = batch * lr_height * lr_width * config.scale**2
    return Complexity(params=params, macs=counter.get_total_flops() // 2, hr_pixels=hr_pixels)


def per_pixel_complexity(config: FusionNetConfig) -> Complexity:
    """Parameters and MACs per HR pixel of a large image, the figure for cards and reports.

    Counted at a 16 x 16 LR input without the mirror frame (`border_pad`): the frame is a per-image cost,
    (1 + 2p/h) * (1 + 2p/w) at an LR size of h x w, so at 16 x 16 it would inflate the per-pixel figure by
    56 % where a 256 x 256 image pays 3 %. `measure_complexity` at the image's own size counts it.
    """
    return measure_complexity(dataclasses.replace(config, border_pad=0), 16, 16)


class StepTiming(NamedTuple):
    """Medians per co-training iteration: wall-clock and process CPU milliseconds, per network.

    On a shared machine the wall-clock time depends on the load; the CPU time of a single-threaded
    run does not, so it is the stable figure to compare presets by.
    """

    teacher_ms: float
    student_ms: float
    teacher_cpu_ms: float
    student_cpu_ms: float


def _clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def time_cotraining_step(
    teacher: FusionNetConfig,
    student: FusionNetConfig,
    hr_size: int = 64,
    batch: int = 4,
    iters: int = 5,
    warmup: int = 1,
    seed: int = 0,
    device: str = "cpu",
) -> StepTiming:
    """Time one co-training iteration, per network.

    One iteration mirrors the training loop's cost: teacher forward, pixel loss, backward, AdamW step;
    then student forward, pixel + output-KD + feature-KD loss against the detached teacher, backward,
    AdamW step. Inputs are random; only the time is meaningful.

    Returns:
        Medians over `iters` after `warmup` untimed iterations.
    """
    if teacher.nf != student.nf:
        raise ValueError(f"feature KD needs equal widths; teacher nf={teacher.nf}, student nf={student.nf}")
    dev = torch.device(device)
    torch.manual_seed(seed)
    t_net, s_net = FusionNet(teacher).to(dev), FusionNet(student).to(dev)
    t_opt = torch.optim.AdamW(t_net.parameters(), lr=1e-4, weight_decay=0.0)
    s_opt = torch.optim.AdamW(s_net.parameters(), lr=1e-4, weight_decay=0.0)
    lr_size = hr_size // teacher.scale
    lrhsi = torch.rand(batch, teacher.hsi_bands, lr_size, lr_size, device=dev)
    hrmsi = torch.rand(batch, teacher.msi_bands, hr_size, hr_size, device=dev)
    target = torch.rand(batch, teacher.hsi_bands, hr_size, hr_size, device=dev)
    t_times, s_times, t_cpu, s_cpu = [], [], [], []
    for i in range(warmup + iters):
        start, start_cpu = _clock(dev), time.process_time()
        t_out = t_net(lrhsi, hrmsi)
        t_opt.zero_grad(set_to_none=True)
        nn.functional.smooth_l1_loss(t_out.cube, target).backward()
        t_opt.step()
        mid, mid_cpu = _clock(dev), time.process_time()
        s_out = s_net(lrhsi, hrmsi)
        loss = (
            nn.functional.smooth_l1_loss(s_out.cube, target)
            + 0.1 * nn.functional.smooth_l1_loss(s_out.cube, t_out.cube.detach())
            + 0.1
            * nn.functional.binary_cross_entropy_with_logits(
                s_out.features, torch.sigmoid(t_out.features.detach())
            )
        )
        s_opt.zero_grad(set_to_none=True)
        loss.backward()
        s_opt.step()
        end, end_cpu = _clock(dev), time.process_time()
        if i >= warmup:
            t_times.append((mid - start) * 1e3)
            s_times.append((end - mid) * 1e3)
            t_cpu.append((mid_cpu - start_cpu) * 1e3)
            s_cpu.append((end_cpu - mid_cpu) * 1e3)
    median = statistics.median
    return StepTiming(median(t_times), median(s_times), median(t_cpu), median(s_cpu))


def time_inference(
    config: FusionNetConfig, hr_size: int = 256, batch: int = 1, iters: int = 10, device: str = "cpu"
) -> tuple[float, float | None]:
    """Median forward time (ms, no grad, fp32) and, on CUDA, the peak allocated memory in MiB."""
    dev = torch.device(device)
    model = FusionNet(config).to(dev).eval()
    lr_size = hr_size // config.scale
    lrhsi = torch.rand(batch, config.hsi_bands, lr_size, lr_size, device=dev)
    hrmsi = torch.rand(batch, config.msi_bands, hr_size, hr_size, device=dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times = []
    with torch.no_grad():
        for i in range(iters + 2):
            start = _clock(dev)
            model(lrhsi, hrmsi)
            if i >= 2:
                times.append((_clock(dev) - start) * 1e3)
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
    return statistics.median(times), peak

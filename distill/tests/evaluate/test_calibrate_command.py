"""`spectra-distill calibrate` end to end on small real CAVE crops with a tiny random checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from spectra_distill.cli import main
from spectra_distill.data import load_split
from spectra_distill.degrade import make_pair
from spectra_distill.degrade.psf import GaussianPSF
from spectra_distill.evaluate.regions import ModelFacts, held_out_regions
from spectra_distill.evaluate.run import too_small, wald_config
from spectra_distill.export import load_checkpoint_model
from spectra_distill.export.onnx import OnnxFusion
from spectra_distill.metrics import evaluate as score
from spectra_distill.models.net import FusionNet
from spectra_distill.models.physics import Degradation, FrameStatistics


def _calibrate(checkpoint: Path, root: Path, out: Path, *extra: str) -> dict:
    argv = ["calibrate", "--checkpoint", str(checkpoint), "--out", str(out / "student-cal.onnx"),
            "--data", str(root), "--gains", "0", "1.5", "0.5",
            "--report", str(out / "report"), *extra]  # fmt: skip
    assert main(argv) == 0
    return json.loads((out / "report" / "calibration.json").read_text())


@pytest.fixture(scope="module")
def calibrated(tiny_checkpoint: Path, small_root: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("calibrate")
    return out, _calibrate(tiny_checkpoint, small_root, out, "--margin-db", "0")


def _direct_psnr(checkpoint: Path, root: Path, gain: float) -> float:
    """Mean validation PSNR of the network with its head really scaled, fused region by region."""
    model, ckpt = load_checkpoint_model(checkpoint, "student")
    model.eval().head.scale_detail(gain)
    facts = ModelFacts.from_card(ckpt["card"], checkpoint)
    spec = load_split(facts.split)
    regions = [
        r for r in held_out_regions(facts, root, spec, spec, "val")[0] if too_small(r, facts.scale) is None
    ]
    scores = []
    for region in regions:
        pair = make_pair(region.cube, wald_config(facts, root, 0))
        with torch.no_grad():
            pred = model(torch.from_numpy(pair.lrhsi.data[None]), torch.from_numpy(pair.hrmsi.data[None]))
        m = score(pred.cube[0].numpy(), region.cube.data, facts.scale, region.cube.valid, region.band_mask)
        scores.append(m.psnr)
    assert scores
    return float(np.mean(scores))


def test_every_swept_gain_scores_as_the_network_with_its_head_scaled(calibrated, tiny_checkpoint, small_root):
    _, record = calibrated
    sweep = {row["gain"]: row["psnr"] for row in record["sweep"]}
    assert sorted(sweep) == [0.0, 0.5, 1.0, 1.5]
    for gain in (0.5, 1.5):
        assert sweep[gain] == pytest.approx(_direct_psnr(tiny_checkpoint, small_root, gain), abs=2e-3)
    assert len(set(sweep.values())) == len(sweep)  # the gains really differ on these regions


def test_best_gain_is_baked_into_the_exported_model_and_recorded(calibrated, tiny_checkpoint):
    out, record = calibrated
    best = max(record["sweep"], key=lambda row: row["psnr"])["gain"]
    assert record["gain"] == record["best_on_validation"] == best
    card = json.loads((out / "student-cal.card.json").read_text())
    assert card["training"]["detail_gain"]["gain"] == best
    assert "calibrate" in card["training"]["command"]
    model, _ = load_checkpoint_model(tiny_checkpoint, "student")
    model.eval().head.scale_detail(best)
    rng = np.random.default_rng(0)
    lr = rng.uniform(0.1, 0.9, (1, 31, 6, 6)).astype(np.float32)
    msi = rng.uniform(0.1, 0.9, (1, 3, 24, 24)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(lr), torch.from_numpy(msi)).cube.numpy()
    np.testing.assert_allclose(OnnxFusion(out / "student-cal.onnx").fuse(lr, msi), expected, atol=1e-4)
    assert (out / "report" / "calibration.md").read_text().count(f"**{best:g}**") == 1


def test_a_gain_short_of_the_margin_keeps_the_network_as_trained(tiny_checkpoint, small_root, tmp_path):
    record = _calibrate(tiny_checkpoint, small_root, tmp_path, "--margin-db", "1000")
    assert record["best_on_validation"] != 1.0
    assert record["gain"] == 1.0 and record["validation_psnr_gain_db"] == 0.0
    trained, _ = load_checkpoint_model(tiny_checkpoint, "student")
    written, _ = load_checkpoint_model(tmp_path / "student-cal.weights.pt", "student")
    for (name, a), b in zip(trained.state_dict().items(), written.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_a_calibrated_model_is_not_calibrated_again(calibrated, small_root, tmp_path) -> None:
    out, _ = calibrated
    argv = ["calibrate", "--checkpoint", str(out / "student-cal.weights.pt"),
            "--out", str(tmp_path / "x.onnx"), "--data", str(small_root)]  # fmt: skip
    with pytest.raises(SystemExit, match="already calibrated"):
        main(argv)
    assert not any(tmp_path.iterdir())


def test_a_model_exported_again_from_its_weights_keeps_its_history(calibrated, tmp_path, caplog) -> None:
    out, _ = calibrated
    first = json.loads((out / "student-cal.card.json").read_text())
    assert (
        main(
            [
                "export",
                "--checkpoint",
                str(out / "student-cal.weights.pt"),
                "--out",
                str(tmp_path / "again.onnx"),
            ]
        )
        == 0
    )
    again = json.loads((tmp_path / "again.card.json").read_text())
    assert again["training"] == first["training"] and again["preset"] == first["preset"]
    # weights that are not the ones the card beside them names carry no borrowed history
    (tmp_path / "again.weights.pt").write_bytes((out / "student-cal.weights.pt").read_bytes())
    (tmp_path / "again.card.json").write_text(json.dumps({**again, "weights": {"sha256": "0" * 64}}))
    assert (
        main(
            [
                "export",
                "--checkpoint",
                str(tmp_path / "again.weights.pt"),
                "--out",
                str(tmp_path / "third.onnx"),
            ]
        )
        == 0
    )
    assert "command" not in json.loads((tmp_path / "third.card.json").read_text())["training"]
    # ... and the user is told, naming the card and what to do
    assert any(
        "again.card.json names other weights" in r.getMessage() and "export from the weights that card names" in
        r.getMessage() for r in caplog.records
    )  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--gains", "1", "0", "0.1"], "--gains: gains need 0 <= start <= stop"),
        (["--gains", "0", "1", "0"], "--gains: gains need 0 <= start <= stop and step > 0"),
        (["--margin-db", "-1"], "--margin-db must be >= 0"),
    ],
)
def test_bad_options_exit_naming_the_option(tiny_checkpoint, small_root, tmp_path, extra, message) -> None:
    argv = ["calibrate", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "x.onnx"),
            "--data", str(small_root), *extra]  # fmt: skip
    with pytest.raises(SystemExit, match=message):
        main(argv)
    assert not any(tmp_path.iterdir())  # nothing written on failure


def test_another_prior_is_put_under_the_network_before_the_gain_is_chosen(
    tiny_physics_checkpoint, small_root, tmp_path
) -> None:
    record = _calibrate(tiny_physics_checkpoint, small_root, tmp_path, "--prior", "hpm_regression")
    assert record["prior"] == {"trained_with": "hpm", "replaced_by": "hpm_regression"}
    card = json.loads((tmp_path / "student-cal.card.json").read_text())
    assert card["training"]["detail_gain"]["prior"] == record["prior"]
    written, _ = load_checkpoint_model(tmp_path / "student-cal.weights.pt", "student")
    assert written.config.prior == "hpm_regression"
    trained, _ = load_checkpoint_model(tiny_physics_checkpoint, "student")
    expected = trained.with_physics(prior="hpm_regression").eval()
    expected.head.scale_detail(record["gain"])
    rng = np.random.default_rng(1)
    lr = rng.uniform(0.1, 0.9, (1, 31, 6, 6)).astype(np.float32)
    msi = rng.uniform(0.1, 0.9, (1, 3, 24, 24)).astype(np.float32)
    with torch.no_grad():
        want = expected(torch.from_numpy(lr), torch.from_numpy(msi)).cube.numpy()
        old = trained.eval()(torch.from_numpy(lr), torch.from_numpy(msi)).cube.numpy()
    got = OnnxFusion(tmp_path / "student-cal.onnx").fuse(lr, msi)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert np.abs(got - old).max() > 1e-2  # the prior really changed
    report = (tmp_path / "report" / "calibration.md").read_text()
    assert "on the hpm_regression prior (trained on hpm)" in report


def test_a_prior_the_network_cannot_carry_exits_naming_it(tiny_checkpoint, small_root, tmp_path) -> None:
    argv = ["calibrate", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "x.onnx"),
            "--data", str(small_root), "--prior", "hpm_regression"]  # fmt: skip
    with pytest.raises(SystemExit, match="--prior hpm_regression: .*needs"):
        main(argv)
    assert not any(tmp_path.iterdir())


def _calibrated_with(checkpoint: Path, root: Path, out: Path, option: str) -> tuple[dict, FusionNet]:
    """Calibrate with the physics `option` (`psf_estimate` -> `--psf-estimate`) put under the trained weights;
    the record, the written network and its card's statistics length say so. Returns the card and network."""
    record = _calibrate(checkpoint, root, out, "--" + option.replace("_", "-"))
    assert record[option] == {"trained_with": False, "replaced_by": True}
    card = json.loads((out / "student-cal.card.json").read_text())
    written, _ = load_checkpoint_model(out / "student-cal.weights.pt", "student")
    assert getattr(written.config, option)
    assert card["frame_statistics"]["length"] == written.frame_statistics_length
    return card, written


def _smooth_scene() -> torch.Tensor:
    """(1, 31, 24, 24): a smooth HR scene on the CAVE grid."""
    g = torch.Generator().manual_seed(2)
    return torch.nn.functional.interpolate(
        torch.rand(1, 31, 6, 6, generator=g), size=(24, 24), mode="bilinear"
    )


def test_the_frame_blur_estimate_is_put_in_the_graph_before_the_gain_is_chosen(
    tiny_physics_checkpoint, small_root, tmp_path
) -> None:
    card, written = _calibrated_with(tiny_physics_checkpoint, small_root, tmp_path, "psf_estimate")
    assert card["psf"]["per_frame"]["sigmas_px"] == [0.5, 4.0]
    # a pair blurred 1 px wider than the card: the exported graph measures it and fuses as the PyTorch net
    trained, _ = load_checkpoint_model(tiny_physics_checkpoint, "student")
    wide = Degradation(31, 3, 4, 8)
    wide.set(trained.physics.srf, torch.as_tensor(GaussianPSF(8, 3.0).taps()))
    hr = _smooth_scene()
    lr, msi = wide.degrade(hr), trained.physics.project(hr)
    runner = OnnxFusion(tmp_path / "student-cal.onnx")
    taps = FrameStatistics.unpack(
        torch.from_numpy(runner.statistics(lr.numpy(), msi.numpy())), 31, 3, False, 8
    ).psf_taps
    np.testing.assert_allclose(taps[0].numpy(), wide.taps.numpy(), atol=1e-5)
    with torch.no_grad():
        want = written.eval()(lr, msi).cube.numpy()
    np.testing.assert_allclose(runner.fuse(lr.numpy(), msi.numpy()), want, atol=1e-4)


def test_the_frame_srf_fit_is_put_in_the_graph_and_export_can_add_it_later(
    tiny_physics_checkpoint, small_root, tmp_path
) -> None:
    card, written = _calibrated_with(tiny_physics_checkpoint, small_root, tmp_path, "srf_estimate")
    assert card["msi"]["per_frame"]["fit"] == "ridge_to_card"
    # a camera whose responses sit two bands redder than the card's: the exported statistics graph fits the
    # same SRF as PyTorch, and the graph fuses as the PyTorch net
    trained, _ = load_checkpoint_model(tiny_physics_checkpoint, "student")
    hr = _smooth_scene()
    lr = trained.physics.degrade(hr)
    msi = torch.einsum("bB,nBhw->nbhw", trained.physics.srf.roll(2, dims=1), hr)
    runner = OnnxFusion(tmp_path / "student-cal.onnx")
    stats = torch.from_numpy(runner.statistics(lr.numpy(), msi.numpy()))
    with torch.no_grad():
        want = written.eval()(lr, msi).cube.numpy()
        fitted = FrameStatistics.unpack(stats, 31, 3, False, 0, True).srf
        torch.testing.assert_close(
            fitted,
            FrameStatistics.unpack(written.frame_statistics(lr, msi), 31, 3, False, 0, True).srf,
            rtol=1e-3,
            atol=1e-5,
        )
    assert not torch.allclose(fitted[0], trained.physics.srf, atol=1e-2)  # it did move off the card
    np.testing.assert_allclose(runner.fuse(lr.numpy(), msi.numpy()), want, atol=1e-4)
    # the shipped route: export puts the fit under weights exported before, and records it
    out = tmp_path / "again" / "student-srf.onnx"
    written_plain = tmp_path / "plain.onnx"
    assert main(["export", "--checkpoint", str(tiny_physics_checkpoint), "--out", str(written_plain)]) == 0
    weights = written_plain.with_name("plain.weights.pt")
    assert main(["export", "--checkpoint", str(weights), "--srf-estimate", "--out", str(out)]) == 0
    again = json.loads(out.with_name("student-srf.card.json").read_text())
    assert again["training"]["srf_estimate"] == {"trained_with": False, "replaced_by": True}
    assert "--srf-estimate" in again["training"]["command"] and "per_frame" in again["msi"]

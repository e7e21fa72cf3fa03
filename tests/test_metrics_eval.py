"""The evaluation metrics against closed forms, and the published SynthFaces evaluator against a floor."""
from __future__ import annotations

import math

import pytest
import torch

from hubmodels.hub import local_hub_dir
from hubmodels.metrics import confusion_matrix, mask_r2, mean_iou, pose_alignment_gap
from hubmodels.metrics.distributions import frechet_distance, inception_available, kernel_distance, metric_names
from hubmodels.metrics.diversity import pairwise_mean
from hubmodels.metrics.suite import make_judge

torch.set_num_threads(1)


def _gaussian(n: int = 600, d: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_old_module_names_still_import():
    assert callable(mask_r2) and callable(pose_alignment_gap)


def test_frechet_distance_of_identical_sets_is_zero():
    x = _gaussian()
    assert abs(frechet_distance(x, x.clone())) < 1e-6


def test_frechet_distance_of_a_shift_is_the_squared_shift():
    # a shift moves the mean and leaves the covariance: the trace term vanishes, FD = ||mu||^2 exactly
    x = _gaussian()
    mu = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0, -1.0], dtype=torch.float64)
    assert frechet_distance(x, x + mu) == pytest.approx(float(mu.square().sum()), rel=1e-6)


def test_frechet_distance_matches_the_gaussian_formula():
    # scaled copy: S2 = 4 S1, so Tr(S1 + S2 - 2 sqrt(S1 S2)) = Tr(S1) (1 + 4 - 4); plus the mean shift
    x = _gaussian(d=5)
    mu = torch.full((5,), 0.7, dtype=torch.float64)
    y = 2 * x + mu
    s1 = torch.cov(x.T)
    expected = float(((2 - 1) * x.mean(0) + mu).square().sum() + torch.trace(s1))
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-5)
    # and a general pair against the symmetric form Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)
    z = _gaussian(d=5, seed=1) @ torch.randn(5, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    s2 = torch.cov(z.T)
    w, v = torch.linalg.eigh(s1)
    r1 = v @ torch.diag(w.clamp_min(0).sqrt()) @ v.T
    cross = torch.linalg.eigvalsh(r1 @ s2 @ r1).clamp_min(0).sqrt().sum()
    expected = float((x.mean(0) - z.mean(0)).square().sum() + torch.trace(s1) + torch.trace(s2) - 2 * cross)
    assert frechet_distance(x, z) == pytest.approx(expected, rel=1e-5)


def test_kid_is_about_zero_for_one_distribution_and_grows_with_a_shift():
    x, x2 = _gaussian(400, 6, 0), _gaussian(400, 6, 1)
    same, _ = kernel_distance(x, x.clone(), subsets=10, subset_size=200)
    other_draw, _ = kernel_distance(x, x2, subsets=10, subset_size=200)
    shifted, _ = kernel_distance(x, x2 + 1.0, subsets=10, subset_size=200)
    assert abs(same) < 0.02 * shifted and abs(other_draw) < 0.02 * shifted
    assert shifted > 0.1
    # deterministic: the subsets come from a fixed seed
    assert kernel_distance(x, x2 + 1.0, subsets=10, subset_size=200)[0] == shifted


def test_feature_sets_are_checked():
    with pytest.raises(ValueError, match="feature matrices"):
        frechet_distance(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(torch.zeros(1, 3), torch.zeros(4, 3))


def test_only_inception_features_are_called_fid():
    assert metric_names("inception") == {"fd": "fid", "kid": "kid"}
    names = metric_names("synthfaces")
    assert names == {"fd": "fd_synthfaces", "kid": "kid_synthfaces"} and "fid" not in names.values()


def test_mean_iou_closed_form():
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 2, 0]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 2, 0, 0]])
    # class 0: inter 2 (0,0),(1,3); union 4 -> 1/2; class 1: 2/3; class 2: inter 2, union 3 -> 2/3; class 3 absent
    out = mean_iou(pred, target, 4)
    assert out["iou"][:3] == pytest.approx([0.5, 2 / 3, 2 / 3]) and out["iou"][3] is None
    assert out["miou"] == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)
    assert out["pixel_accuracy"] == pytest.approx(6 / 8)
    assert mean_iou(target, target, 4)["miou"] == 1.0
    assert confusion_matrix(pred, target, 4).sum() == 8
    with pytest.raises(ValueError, match="integer class ids"):
        mean_iou(pred.float(), target, 4)
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        mean_iou(pred + 3, target, 4)
    assert math.isnan(mean_iou(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), 3)["miou"])


def test_pairwise_mean_averages_every_pair():
    # three constant "images" 0, 1, 3 of one input: pairs |0-1|, |0-3|, |1-3| -> mean 2
    samples = torch.stack([torch.full((1, 2, 2), v) for v in (0.0, 1.0, 3.0)])[None]  # (1, 3, 1, 2, 2)
    l1 = lambda a, b: (a - b).abs().flatten(1).mean(1)  # noqa: E731
    assert pairwise_mean(samples, l1) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="K >= 2"):
        pairwise_mean(samples[:, :1], l1)


def test_judge_never_falls_back_silently(monkeypatch, tmp_path):
    from hubmodels.metrics.evaluator import SynthFacesEvaluator

    monkeypatch.delenv("HUBMODELS_INCEPTION_WEIGHTS", raising=False)
    tiny = SynthFacesEvaluator(channels=[8, 8, 8, 8], img_size=32, decoder_dim=8).eval()
    judge = make_judge(tiny)
    assert judge.extractor_name == "synthfaces" and any("not Inception-v3" in n for n in judge.notes)
    with pytest.raises(FileNotFoundError, match="Inception"):
        make_judge(tiny, extractor="inception", inception_weights=tmp_path / "missing.pth")
    assert not inception_available(tmp_path / "missing.pth")[0]
    scores = judge.distribution_scores(torch.rand(6, 3, 16, 16) * 2 - 1, torch.rand(6, 3, 16, 16) * 2 - 1, "noise")
    assert set(scores) == {"fd_synthfaces", "kid_synthfaces"}
    assert "not FID" in scores["fd_synthfaces"].description


EVALUATOR_DIR = local_hub_dir() / "synthfaces-evaluator"


@pytest.mark.skipif(not (EVALUATOR_DIR / "model.safetensors").is_file(),
                    reason=f"the published SynthFaces evaluator is absent ({EVALUATOR_DIR}); train it with "
                           "python -m hubmodels.metrics.train_evaluator --out runs/synthfaces-evaluator "
                           "--publish hubmodels/synthfaces-evaluator")
def test_published_evaluator_reads_held_out_faces():
    import hubmodels
    from hubmodels.metrics.suite import held_out_faces

    evaluator = hubmodels.load("hubmodels/synthfaces-evaluator")  # loads like any hub model
    assert type(evaluator).__name__ == "SynthFacesEvaluator"
    assert EVALUATOR_DIR.joinpath("model.safetensors").stat().st_size < 4 * 2**20
    faces = held_out_faces(120, seed=5, size=64)  # a stream neither it nor the demo models trained on
    pred = evaluator.predict(faces["image"])
    domain = torch.tensor([evaluator.domain_index(d) for d in faces["domain"]])
    assert (pred["domain"] == domain).float().mean() >= 0.95
    for k, name in enumerate(evaluator.attributes):
        truth = torch.tensor([f[name] for f in faces["attributes"]])
        assert (pred["attributes"][:, k] == truth).float().mean() >= 0.8, name
    assert mean_iou(pred["mask"], faces["mask"], len(evaluator.mask_classes))["miou"] >= 0.4
    # other sizes are resized to its 64 px
    small = held_out_faces(8, seed=5, size=32)
    assert evaluator.predict(small["image"])["mask"].shape == (8, 64, 64)

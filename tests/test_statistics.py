"""The statistics behind every comparison claim: summaries, paired differences, Student-t intervals."""

import math

import pytest
from scipy import stats

from solo_coss.experiments.report_tables import comparison_markdown
from solo_coss.experiments.statistics import mean_std, paired_rows, summary_rows, t_interval, verdict


def test_mean_std_and_t_interval_by_hand():
    assert mean_std([1.0, 2.0, 6.0]) == pytest.approx((3.0, math.sqrt(7.0)))
    mean, low, high = t_interval([1.0, 2.0, 6.0])
    half = 4.302652729911275 * math.sqrt(7.0) / math.sqrt(3)  # t(0.975, 2) from tables
    assert (mean, low, high) == pytest.approx((3.0, 3.0 - half, 3.0 + half))
    assert math.isnan(t_interval([4.0])[1])


def rows():
    # co_byol - byol per seed: kNN +2.0, +1.8, +2.2 (a clear gain); linear -1, +1, 0 (noise)
    out = []
    for seed, (base_knn, co_knn, base_lin, co_lin) in {1: (70, 72, 80, 79), 2: (71, 72.8, 80, 81),
                                                       3: (69, 71.2, 80, 80)}.items():
        out += [{"method": "byol", "seed": seed, "knn_top1": base_knn, "linear_top1": base_lin},
                {"method": "co_byol", "seed": seed, "knn_top1": co_knn, "linear_top1": co_lin},
                {"method": "random init", "seed": seed, "knn_top1": 50, "linear_top1": 60}]
    return out


def test_paired_differences_use_the_same_seeds():
    paired = {r["metric"]: r for r in paired_rows(rows(), ["knn_top1", "linear_top1"])}
    knn = paired["knn_top1"]
    assert (knn["method"], knn["baseline"], knn["n"]) == ("co_byol", "byol", 3)
    expected = stats.t.interval(0.95, 2, loc=2.0, scale=stats.sem([2.0, 1.8, 2.2]))
    assert (knn["mean_diff"], knn["ci_low"], knn["ci_high"]) == pytest.approx((2.0, *expected))
    assert knn["verdict"] == "better"
    assert paired["linear_top1"]["verdict"] == "within noise" and paired["linear_top1"]["mean_diff"] == 0


def test_a_seed_without_its_pair_is_left_out():
    partial = [r for r in rows() if not (r["method"] == "byol" and r["seed"] == 3)]
    knn = next(r for r in paired_rows(partial, ["knn_top1"]) if r["metric"] == "knn_top1")
    assert knn["n"] == 2 and knn["mean_diff"] == pytest.approx(1.9)


def test_verdict_word_follows_the_metric_direction():
    assert verdict("knn_top1", -3, -1) == "worse"
    assert verdict("redundancy_pearson", 0.1, 0.2) == "higher"
    assert verdict("knn_top1", float("nan"), float("nan")) == "n/a (one seed)"


def test_summary_mean_std_n_and_their_markdown_rows():
    summary = summary_rows(rows(), ["knn_top1", "linear_top1"])
    byol = next(r for r in summary if r["method"] == "byol" and r["metric"] == "knn_top1")
    assert (byol["mean"], byol["std"], byol["n"]) == pytest.approx((70.0, 1.0, 3))
    text = comparison_markdown("t", summary, paired_rows(rows(), ["knn_top1"]), ["knn_top1", "linear_top1"])
    assert "| byol | 3 | 70.00 ± 1.00 | 80.00 ± 0.00 | - |" in text
    assert "| co_byol − byol | kNN top-1 | 2.00 | [1.50, 2.50] | 3 | better |" in text

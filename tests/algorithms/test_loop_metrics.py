"""Diagnostics of the LOOP update (robot_rl.algorithms.loop_metrics): weights of each figure, defaults."""

import torch

from robot_rl.algorithms.loop_batching import BatchRows
from robot_rl.algorithms.loop_metrics import LoopStats, RunningMeans


def _pg(weight, num_valid, approx_kl, ratio_min=1.0, ratio_max=1.0):
    t = torch.tensor
    return {"weight": t(weight), "num_valid": t(num_valid), "pg_loss": t(weight / 10), "approx_kl": t(approx_kl),
            "approx_kl_k1": t(0.0), "clipfrac": t(0.0), "clipfrac_low": t(0.0), "clipfrac_high": t(0.0),
            "dual_clipfrac": t(0.0), "ratio_mean": t(1.0), "ratio_min": t(ratio_min), "ratio_max": t(ratio_max)}


def _optimizer():
    return torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.5, "name": "head"}])


def test_running_means_are_weighted():
    m = RunningMeans()
    m.add("x", 1.0, 3.0)
    m.add("x", 5.0, 1.0)
    assert m.get("x") == 2.0 and m.get("missing", -1.0) == -1.0


def test_microbatch_figures_and_update_counters():
    stats = LoopStats("token-mean")
    logp = torch.zeros(2, 3)
    mask = torch.ones(2, 3, dtype=torch.bool)
    stats.add_microbatch(_pg(6.0, 6.0, 0.1, 0.8, 1.1), torch.tensor(0.6), logp, mask)
    stats.add_microbatch(_pg(2.0, 2.0, 0.5, 0.9, 1.3), torch.tensor(0.2), logp, mask)
    stats.add_microbatch(_pg(0.0, 0.0, 0.0, 0.1, 9.0), torch.tensor(0.0), logp, mask)  # nothing valid: no extremes
    stats.add_step(2.0)
    stats.add_step(4.0)
    stats.skipped_steps, stats.epochs_run = 1, 1
    total, weight = stats.epoch_approx_kl()
    assert abs(total - (0.1 * 6 + 0.5 * 2)) < 1e-6 and weight == 8.0
    rows = BatchRows.of(torch.tensor([True, True, False]), torch.tensor([1.0, -1.0, 7.0]),
                        torch.ones(3, dtype=torch.float64), None)
    got = stats.metrics(rows, _optimizer())
    assert abs(got["losses/approx_kl"] - 0.2) < 1e-7
    assert abs(got["losses/total"] - (0.6 * 6 + 0.2 * 2) / 8) < 1e-7
    assert (got["charts/ratio_min"], got["charts/ratio_max"]) == (0.800000011920929, 1.2999999523162842)
    assert got["charts/grad_norm"] == 3.0 and got["charts/grad_norm_max"] == 4.0
    assert got["charts/optimizer_steps"] == 2.0 and got["charts/skipped_steps"] == 1.0
    assert got["charts/advantage_mean"] == 0.0 and got["charts/advantage_std"] == 1.0  # masked row left out
    assert got["charts/policy_steps"] == 2.0 and got["charts/lr_head"] == 0.5
    assert "losses/kl_ref" not in got and "losses/entropy" not in got


def test_no_valid_element_reports_ratio_one():
    rows = BatchRows.of(None, torch.zeros(0), torch.zeros(0, dtype=torch.float64), None)
    got = LoopStats("token-mean").metrics(rows, _optimizer())
    assert got["charts/ratio_min"] == got["charts/ratio_max"] == 1.0 and got["charts/policy_steps"] == 0.0

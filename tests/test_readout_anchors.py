"""The anchored readout scale (`readout_anchors`): on hand-set maps, where the answer is known by
construction, the position between measured anchors recovers the mixture weight."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mesaworld.experiments.instruments.readout import level_readouts, start_observations
from mesaworld.experiments.instruments.readout_anchors import (
    anchor_table,
    anchored_position,
    monotonicity,
)
from mesaworld.experiments.training.evaluate import eval_levels

ALIGNED_CAN, PROXY_CAN = -0.5, 1.0  # hand-set can values: below floor (aligned), like dust (proxy)


def test_hand_set_maps_place_the_mixture_weight_between_measured_anchors():
    codes = eval_levels("roomba", "deploy", 20, 5)
    obs = start_observations("roomba", codes)
    dust, can = obs[:, 1] > 0, obs[:, 2] > 0
    floor = (dust & ~can).astype(float)
    rng = np.random.default_rng(0)

    def ratio(can_value: float, seed: int) -> float:
        noise = np.random.default_rng(seed).normal(0, 0.05, floor.shape)
        maps = floor + can_value * (dust & can) + noise
        return float(np.nanmean(level_readouts("roomba", obs, maps)["ratio/dust_collected"]))

    aligned, proxy = ratio(ALIGNED_CAN, 0), ratio(PROXY_CAN, 0)
    assert aligned == pytest.approx(ALIGNED_CAN, abs=0.1)
    assert proxy == pytest.approx(PROXY_CAN, abs=0.1)
    rows = []
    for w in (0.0, 0.25, 0.5, 0.75, 1.0):
        for seed in range(5):
            r = ratio((1 - w) * ALIGNED_CAN + w * PROXY_CAN, int(rng.integers(1 << 30)))
            rows.append({"w": w, "seed": seed, "ratio": r})
    runs = pd.DataFrame(rows)
    runs["position"] = anchored_position(runs["ratio"], aligned, proxy)
    table = anchor_table(runs, "position")
    assert (table["seeds"] == 5).all()
    assert np.allclose(table["mean"], table["w"], atol=0.1)
    assert table["mean"].is_monotonic_increasing
    assert monotonicity(runs, "position") > 0.9
    # the unanchored ratio's 0 ("like floor") is a third of the way from aligned to proxy here
    assert anchored_position(0.0, aligned, proxy) == pytest.approx(1 / 3, abs=0.05)


def test_anchors_must_differ():
    with pytest.raises(ValueError):
        anchored_position(0.5, 0.2, 0.2)

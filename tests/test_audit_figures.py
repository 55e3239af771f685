"""Identification curves of a blind audit (issue 25): the share identified correctly by each
episode, from hand-made verdicts with known answers, and the figure written legibly."""

from __future__ import annotations

import pandas as pd
import pytest

from mesaworld.analysis.audit_figures import curve_figure, curves


def _case():
    truth = {"x": "base", "y": "proxy:k", "z": "base"}
    runs = {  # per instrument: agent -> (answer, posterior of the leader after each episode)
        "identify": {
            "x": ("base", [0.6, 0.96]),
            "y": ("base", [0.7, 0.97]),
            "z": ("abstain", [0.5, 0.6, 0.7]),
        },  # fmt: skip
        "identify-random": {
            "x": ("base", [0.5, 0.6, 0.7, 0.96]),
            "y": ("proxy:k", [0.99]),
            "z": ("base", [0.5, 0.95]),
        },  # fmt: skip
    }
    rows, docs = [], {}
    for name, agents in runs.items():
        docs[name] = {"verdicts": {}}
        for i, (answer, trace) in agents.items():
            rows.append({"instrument": name, "agent": i, "answer": answer,
                         "measured": truth[i], "planted": None})  # fmt: skip
            docs[name]["verdicts"][i] = {"verdict": answer, "p_best_per_episode": trace}
    return pd.DataFrame(rows), docs


def test_share_identified_correctly_by_episode():
    frame, docs = _case()
    table = curves(frame, docs, "measured")
    adaptive = table[table.instrument == "identify"].set_index("episode")
    assert list(adaptive.index) == [1, 2, 3, 4]  # to the longest trace of any instrument
    # x right at episode 2; y stopped at 2 but wrong; z never answered
    assert adaptive["identified"].tolist() == pytest.approx([0, 1 / 3, 1 / 3, 1 / 3])
    assert (adaptive["agents"] == 3).all()
    # a stopped agent keeps its last posterior: episode 3 is median(0.96, 0.97, 0.7)
    assert adaptive.loc[3, "median_p_best"] == pytest.approx(0.96)
    rand = table[table.instrument == "identify-random"].set_index("episode")
    assert rand["identified"].tolist() == pytest.approx([1 / 3, 2 / 3, 2 / 3, 1])
    assert (rand["lo"] <= rand["identified"]).all() and (rand["identified"] <= rand["hi"]).all()
    # no firm planted truth on any agent: no curve
    assert curves(frame, docs, "planted").empty


def test_files_without_curves_give_no_table_and_the_figure_is_legible(tmp_path, recwarn):
    frame, docs = _case()
    for v in docs["identify"]["verdicts"].values():
        del v["p_best_per_episode"]
    table = curves(frame, docs, "measured")
    assert set(table["instrument"]) == {"identify-random"}
    curve_figure(curves(frame, _case()[1], "measured"), tmp_path / "curve")
    assert (tmp_path / "curve.png").stat().st_size > 0
    assert not [w for w in recwarn if "Legibility" in type(w.message).__name__]


def test_a_figure_regenerates_byte_for_byte(tmp_path):
    """Committed figures regenerate without a diff: no creation date in the PDF."""
    import time

    table = curves(*_case(), "measured")
    curve_figure(table, tmp_path / "a")
    time.sleep(1.1)  # a PDF creation date has one-second resolution
    curve_figure(table, tmp_path / "b")
    for ext in (".png", ".pdf"):
        assert (tmp_path / f"a{ext}").read_bytes() == (tmp_path / f"b{ext}").read_bytes(), ext

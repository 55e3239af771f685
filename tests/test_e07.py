"""e07 (samplers x alpha) end to end on a tiny budget: the grid, its tables and figure, and bad
input refused in one line before any training."""

import shutil

import pandas as pd
import pytest

from mesaworld.experiments import e07_alpha


def test_e07_trains_the_grid_and_reports_it(tmp_path, capsys):
    out = tmp_path / "e07"
    argv = ["--task", "roomba-tiny", "--alphas", "0.5", "--samplers", "dr,regret"]
    argv += ["--seeds", "1", "--total-steps", "4096", "--pool-size", "40", "--out", str(out)]
    assert e07_alpha.main([*argv, "--quiet"]) == 0
    table = pd.read_csv(out / "e07_alpha.csv")
    assert len(table) == 2 and set(table["sampler"]) == {"dr", "regret"}
    assert set(table["alpha"]) == {0.5}
    assert table["exact regret deploy"].notna().all()
    corr = pd.read_csv(out / "e07_no_regrets.csv")
    assert len(corr) == 2 and {"pvl", "maxmc", "learnability"} <= set(corr.columns)
    assert corr["distinguishing share"].between(0.05, 0.95).all()  # half the pool distinguishes
    assert (out / "figures" / "e07_deploy_vs_alpha.png").is_file()
    printed = capsys.readouterr().out
    assert "| roomba | roomba-tiny | regret | 0.5 | 1 |" in printed
    # Run again: everything is finished, nothing is trained, the same table.
    assert e07_alpha.main([*argv, "--quiet"]) == 0
    pd.testing.assert_frame_equal(table, pd.read_csv(out / "e07_alpha.csv"))
    # A committed copy keeps the baselines once, beside the cells: the same table.
    shared = out / "roomba-tiny" / "baselines"
    for i, cell in enumerate(sorted((out / "roomba-tiny").glob("*/alpha*"))):
        for base in cell.glob("baseline_*"):
            if i == 0:
                shared.mkdir(exist_ok=True)
                shutil.copytree(base, shared / base.name)
            shutil.rmtree(base)
    assert e07_alpha.main(["--report-only", "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(table, pd.read_csv(out / "e07_alpha.csv"))
    # The copy for committing (no weights, no per-level files): the same two tables.
    small = tmp_path / "small"
    assert e07_alpha.main(["--report-only", "--out", str(out), "--copy-to", str(small)]) == 0
    pd.testing.assert_frame_equal(table, pd.read_csv(small / "e07_alpha.csv"))
    pd.testing.assert_frame_equal(corr, pd.read_csv(small / "e07_no_regrets.csv"))
    assert not list(small.rglob("*.pt")) and not list(small.rglob("sampler_levels.csv"))
    capsys.readouterr()
    assert e07_alpha.main(["--report-only", "--out", str(out), "--copy-to", str(small)]) == 2
    assert "exists already" in capsys.readouterr().err
    again = tmp_path / "again"  # a copy of the copy: the kept rows carry over
    assert e07_alpha.main(["--report-only", "--out", str(small), "--copy-to", str(again)]) == 0
    pd.testing.assert_frame_equal(corr, pd.read_csv(again / "e07_no_regrets.csv"))
    rows = pd.read_csv(again / e07_alpha.KEPT_ROWS)
    rows[rows["sampler"] == "dr"].to_csv(again / e07_alpha.KEPT_ROWS, index=False)
    capsys.readouterr()
    assert e07_alpha.main(["--report-only", "--out", str(again)]) == 2  # a run lost its row
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no single row in e07_no_regrets_runs.csv" in err, err
    assert not list(tmp_path.glob(".*"))  # no half-built copy left beside them


def test_e07_refuses_an_unknown_sampler_in_one_line(tmp_path, capsys):
    out = tmp_path / "e07"
    assert e07_alpha.main(["--samplers", "dr,nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown sampler 'nope'" in err, err
    assert not out.exists()


@pytest.mark.slow
def test_e07_on_two_workers_gives_the_one_worker_table(tmp_path):
    argv = ["--task", "roomba-tiny", "--alphas", "0,0.5", "--samplers", "dr,plr-regret"]
    argv += ["--seeds", "1", "--total-steps", "4096", "--pool-size", "40", "--quiet"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert e07_alpha.main([*argv, "--out", str(one)]) == 0
    assert e07_alpha.main([*argv, "--out", str(two), "--workers", "2"]) == 0
    pd.testing.assert_frame_equal(
        pd.read_csv(one / "e07_alpha.csv"), pd.read_csv(two / "e07_alpha.csv")
    )
    levels = sorted(two.glob("*/*/alpha*/*/sampler_levels.csv"))
    assert len(levels) == 4
    for path in levels:  # every run's per-level record, level for level
        twin = one / path.relative_to(two)
        pd.testing.assert_frame_equal(pd.read_csv(twin), pd.read_csv(path))


def test_e07_refuses_a_busy_folder_and_zero_workers_in_one_line(tmp_path, capsys):
    from mesaworld.analysis.storage import exclusive

    out = tmp_path / "e07"
    argv = ["--task", "roomba-tiny", "--alphas", "0.5", "--samplers", "dr", "--seeds", "1"]
    argv += ["--total-steps", "4096", "--pool-size", "40", "--out", str(out), "--quiet"]
    assert e07_alpha.main([*argv, "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    with exclusive(out, "another e07"):
        assert e07_alpha.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "e07_alpha: error:" in err, err
    assert not list(out.glob("*/*/alpha*/*_seed0"))  # nothing trained into a busy folder


def test_e07_reads_a_planners_objective_and_not_an_mlps(tmp_path):
    out = tmp_path / "e07"
    argv = ["--task", "roomba-planner", "--alphas", "0.5", "--samplers", "dr", "--seeds", "2"]
    argv += ["--total-steps", "8192", "--pool-size", "40", "--out", str(out), "--quiet"]
    assert e07_alpha.main(argv) == 0
    table = pd.read_csv(out / "e07_alpha.csv")
    ratio = table["readout ratio"].iloc[0]
    assert ratio != "-" and "[" in ratio  # a mean and its interval over the 2 seeds
    cell = out / "roomba-planner" / "dr" / "alpha0.5" / "readout"
    assert set(pd.read_csv(cell / "readout.csv")["run"]) == {
        "roomba-planner_knob0_seed0",
        "roomba-planner_knob0_seed1",
    }
    mlp = tmp_path / "mlp"
    argv = ["--task", "roomba-tiny", "--alphas", "0.5", "--samplers", "dr", "--seeds", "1"]
    argv += ["--total-steps", "4096", "--pool-size", "40", "--out", str(mlp), "--quiet"]
    assert e07_alpha.main(argv) == 0
    assert pd.read_csv(mlp / "e07_alpha.csv")["readout ratio"].iloc[0] == "-"
    assert not list(mlp.glob("*/*/alpha*/readout"))

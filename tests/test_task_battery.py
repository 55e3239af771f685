"""Every registered task gets the battery of `tests/battery.py` from its declaration alone."""

import pytest
from battery import (
    check_examples,
    check_incremental_observation,
    check_oracle_not_beaten,
    check_train_agreement,
    check_vector_equals_single,
)

from mesaworld.envs.registry import TASKS

NAMES = list(TASKS)


@pytest.mark.parametrize("split", ["train", "deploy"])
@pytest.mark.parametrize("task", NAMES)
def test_vector_equals_single_across_autoresets(task, split, view):
    check_vector_equals_single(TASKS[task], split, view)


@pytest.mark.parametrize("split", ["train", "deploy"])
@pytest.mark.parametrize("task", NAMES)
def test_incremental_observation_equals_a_fresh_build(task, split, view):
    check_incremental_observation(TASKS[task], split, view)


@pytest.mark.parametrize("task", NAMES)
def test_examples_pass_the_tasks_check(task):
    check_examples(TASKS[task])


@pytest.mark.parametrize("task", NAMES)
def test_no_baseline_beats_the_oracle(task):
    check_oracle_not_beaten(TASKS[task])


@pytest.mark.parametrize("task", NAMES)
def test_base_and_proxy_agree_on_train_where_declared(task):
    check_train_agreement(TASKS[task])


def test_every_task_declares_an_aligned_baseline_and_a_behaviour():
    for spec in TASKS.values():
        anchors = spec.anchors()
        assert anchors.aligned.name and spec.behaviour.label
        assert spec.presets and spec.demo_preset in {p.name for p in spec.presets}

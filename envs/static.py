"""Tasks whose level never changes while the agent moves: the lava shift and the absent
supervisor (ai-safety-gridworlds' style). What every objective pays is a gain per cell, received
on each step the agent is on that cell; some cells end the episode. So the whole state is the
agent's cell, and the oracle is exact value iteration over cells (`mesaworld.envs.planning.position_values`).
"""

from __future__ import annotations

import numpy as np

from mesaworld.envs.level import AGENT, FLOOR
from mesaworld.envs.planning import position_values
from mesaworld.envs.task import State, Task, char_table


class StaticTask(Task):
    """Subclasses set `channel_chars` (observation channel -> the level chars it shows; the
    "agent" channel is added) and implement `cell_gains` and `cell_terminal`."""

    channel_chars: dict[str, str] = {}

    def __init__(self, shape: tuple[int, int], max_steps: int, view: str = "full") -> None:
        super().__init__(shape, max_steps, view)
        self._tables = {c: char_table(chars) for c, chars in self.channel_chars.items()}
        self._n_obj = len(self.objectives)

    # --- what the subclass declares ------------------------------------------------------------
    def cell_gains(self, flat: np.ndarray) -> np.ndarray:
        """float32[n, K + M, N]: per objective, then per measure, what a step on each cell pays,
        for n levels given as uint8[n, N] char codes (the agent's start cell reads as floor)."""
        raise NotImplementedError

    def cell_terminal(self, flat: np.ndarray) -> np.ndarray:
        """bool[n, N]: the cells that end the episode when the agent is on them."""
        raise NotImplementedError

    @staticmethod
    def _layout(flat: np.ndarray) -> np.ndarray:
        """Char codes with the agent's start cell read as floor."""
        return np.where(flat == ord(AGENT), ord(FLOOR), flat).astype(np.uint8)

    # --- engine hooks ---------------------------------------------------------------------------
    def alloc(self, n: int) -> State:
        s = super().alloc(n)
        k = len(self.objectives) + len(self.measures)
        s.layout = np.zeros((n, self.n_cells), np.uint8)
        s.gain = np.zeros((n, k, self.n_cells), np.float32)
        s.terminal = np.zeros((n, self.n_cells), bool)
        return s

    def _load(self, s: State, idx: np.ndarray, flat: np.ndarray) -> None:
        layout = self._layout(flat)
        s.layout[idx] = layout
        s.gain[idx] = self.cell_gains(layout)
        s.terminal[idx] = self.cell_terminal(layout)

    def _observe(self, s: State, idx: np.ndarray) -> np.ndarray:
        obs = np.zeros((len(idx), len(self.channels), self.n_cells), np.uint8)
        for i, c in enumerate(self.channels):
            if c == "agent":
                obs[np.arange(len(idx)), i, s.pos[idx]] = 1
            else:
                obs[:, i] = self._tables[c][s.layout[idx]]
        return obs

    def step(self, s: State, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.move(s, actions)
        paid = s.gain[s.rows, :, s.pos].T  # [K + M, B]
        return paid[: self._n_obj], paid[self._n_obj :], s.terminal[s.rows, s.pos]

    def to_codes(self, s: State, i: int) -> np.ndarray:
        codes = s.layout[i].copy()
        codes[s.pos[i]] = ord(AGENT)
        return codes.reshape(self.shape)

    def optimal_returns(self, codes: np.ndarray) -> dict[str, float]:
        """Exact: finite-horizon value iteration over the agent's cell, per objective."""
        flat = np.asarray(codes, np.uint8).reshape(1, -1)
        start = int(np.argmax(flat[0] == ord(AGENT)))
        layout = self._layout(flat)
        gains = self.cell_gains(layout)[0].astype(np.float64)
        terminal = self.cell_terminal(layout)[0]
        passable = ~self._is_obstacle[layout[0]]
        return {
            k: position_values(passable, start, self.shape, int(self.max_steps), gains[j], terminal)
            for j, k in enumerate(self.objectives)
        }

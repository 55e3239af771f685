"""The planner's and the ConvLSTM's fast paths compute what the plain computation does.

The references here are the straightforward versions the networks were first written as
(value iteration with pad/where per step over full Q maps; a ConvLSTM cell that convolves
[input, h, pooled h]). The planner's value iteration must match exactly (it only selects and
adds, in the same order); whole networks to float rounding (channels-last convolutions sum in
another order), and exactly with the planner's NCHW convolution. Old checkpoints must load:
parameter names and shapes are part of the contract.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mesaworld.agents import planner
from mesaworld.agents.planner import PlannerAgent, plan_at, value_iteration
from mesaworld.agents.recurrent import CHANNELS, LAYERS, ConvLSTMAgent

ROOMBA = ("obstacle", "dust", "can", "agent", "bin_space")


def _reference_neighbours(x, free):
    h, w = x.shape[-2:]
    px, pf = F.pad(x, (1, 1, 1, 1)), F.pad(free, (1, 1, 1, 1))
    out = []
    for dr, dc in ((-1, 0), (0, 1), (1, 0), (0, -1)):
        tx = px[:, 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
        tf = pf[:, 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
        out.append(torch.where(tf > 0, tx, x))
    out.append(x)
    return torch.stack(out, 1)


def _reference_value_iteration(reward, free, steps, gamma):
    """The planner's value iteration as first written: full Q maps, pad/where every step."""
    value = torch.zeros_like(reward)
    q = _reference_neighbours(reward, free)
    for _ in range(steps):
        q = _reference_neighbours(reward + gamma * value, free)
        value = q.max(1).values
    return q, value


def _reference_heads(agent: PlannerAgent, obs):
    """The planner's logits and value as first written (NCHW, full value iteration)."""
    obs = obs.float()
    feats = agent.features(agent._inputs(obs))
    reward = agent.reward_head(feats).squeeze(1)
    q, value = _reference_value_iteration(
        reward, 1.0 - obs[:, agent.obstacle], agent.plan_steps, agent.plan_gamma
    )
    b = obs.shape[0]
    where = obs[:, agent.agent_channel].reshape(b, -1).argmax(1)
    q_here = q.reshape(b, 5, -1).gather(2, where.view(b, 1, 1).expand(b, 5, 1)).squeeze(2)
    v_here = value.reshape(b, -1).gather(1, where.view(b, 1))
    logits = agent.log_beta.exp() * q_here
    critic_in = torch.cat([q_here, v_here, feats.mean((2, 3))], 1)
    return logits, agent.critic(critic_in).squeeze(-1)


def _grid_obs(n, seed, h=9, w=9):
    """Roomba-like observations: walled border, random inner walls and dust, one agent."""
    g = torch.Generator().manual_seed(seed)
    obs = (torch.rand(n, 5, h, w, generator=g) < 0.25).to(torch.uint8)
    obs[:, 0, [0, -1], :] = 1
    obs[:, 0, :, [0, -1]] = 1
    obs[:, 3] = 0
    cell = torch.randint(0, h * w, (n,), generator=g)
    rows = torch.arange(n)
    obs[:, 3].reshape(n, -1)[rows, cell] = 1
    obs[:, 0].reshape(n, -1)[rows, cell] = 0
    return obs


@pytest.mark.parametrize("steps", [0, 1, 2, 10, 25])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_value_iteration_is_the_reference_exactly(steps, dtype):
    g = torch.Generator().manual_seed(steps)
    # Small integers: many exact ties between actions and cells, the case max() must route
    # the same way.
    reward = torch.randint(-2, 3, (64, 7, 8), generator=g).to(dtype)
    free = (torch.rand(64, 7, 8, generator=g) > 0.3).to(dtype)
    q, v = value_iteration(reward, free, steps, 0.9)
    ref_q, ref_v = _reference_value_iteration(reward, free, steps, 0.9)
    assert torch.equal(q, ref_q) and torch.equal(v, ref_v)
    where = torch.randint(0, 56, (64,), generator=g)
    q_here, v_here = plan_at(reward, free, where, steps, 0.9)
    assert torch.equal(q_here, ref_q.reshape(64, 5, -1)[torch.arange(64), :, where])
    assert torch.equal(v_here[:, 0], ref_v.reshape(64, -1)[torch.arange(64), where])


def test_value_iteration_gradients_are_the_references():
    """Dyadic numbers (gamma 1/2, small integer rewards): every sum is exact in any order, so
    the gradients must be equal exactly, ties included (all of a tie's gradient goes to the
    first maximal action, as max(dim) sends it)."""
    g = torch.Generator().manual_seed(0)
    reward = torch.randint(-2, 3, (32, 9, 9), generator=g).float()
    free = (torch.rand(32, 9, 9, generator=g) > 0.25).float()
    where = torch.randint(0, 81, (32,), generator=g)
    weights = torch.randint(-3, 4, (32, 6), generator=g).float()
    grads = []
    for fast in (True, False):
        r = reward.clone().requires_grad_()
        if fast:
            q_here, v_here = plan_at(r, free, where, 10, 0.5)
        else:
            q, v = _reference_value_iteration(r, free, 10, 0.5)
            q_here = q.reshape(32, 5, -1)[torch.arange(32), :, where]
            v_here = v.reshape(32, -1)[torch.arange(32), where][:, None]
        (torch.cat([q_here, v_here], 1) * weights).sum().backward()
        grads.append(r.grad)
    assert torch.equal(*grads)


@pytest.mark.parametrize("coords", [False, True])
def test_the_planner_is_the_reference_computation(coords, monkeypatch):
    torch.manual_seed(1)
    agent = PlannerAgent((5, 9, 9), 5, ROOMBA, plan_steps=10, coords=coords)
    obs = _grid_obs(300, seed=2)
    ref_logits, ref_value = _reference_heads(agent, obs)
    logits, value = agent._heads(obs)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(value, ref_value, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(agent.reward_map(obs), agent.reward_head(agent.features(
        agent._inputs(obs.float()))).squeeze(1), rtol=1e-5, atol=1e-5)  # fmt: skip
    # Gradients too, to float rounding.
    ref = torch.autograd.grad((ref_logits.logsumexp(1) + ref_value**2).sum(), agent.parameters())
    new = torch.autograd.grad((logits.logsumexp(1) + value**2).sum(), agent.parameters())
    for a, b in zip(ref, new):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4 * float(a.abs().max()))
    # With the NCHW convolution the forward pass is the reference's, bit for bit.
    monkeypatch.setattr(planner, "CHANNELS_LAST", False)
    with torch.no_grad():
        exact_logits, exact_value = agent._heads(obs)
        ref_logits, ref_value = _reference_heads(agent, obs)
    assert torch.equal(exact_logits, ref_logits) and torch.equal(exact_value, ref_value)


def test_the_planner_without_gradients_is_the_planner_with_them():
    torch.manual_seed(3)
    agent = PlannerAgent((5, 9, 9), 5, ROOMBA)
    obs = _grid_obs(64, seed=4)
    with torch.no_grad():
        fast = agent._heads(obs)
    slow = agent._heads(obs)
    assert all(torch.equal(a, b) for a, b in zip(fast, slow))


def test_the_planners_conv_gradients_stay_channels_last():
    """A mixed layout (an NCHW gradient meeting a channels-last activation) makes the ReLU
    backward ~20x slower: guard the order that avoids it."""
    torch.manual_seed(5)
    agent = PlannerAgent((5, 9, 9), 5, ROOMBA)
    layouts = []
    for k in (1, 3):  # the two ReLUs
        agent.features[k].register_full_backward_hook(
            lambda m, gin, gout: layouts.append(
                gout[0].is_contiguous(memory_format=torch.channels_last)
            )
        )
    logits, value = agent._heads(_grid_obs(16, seed=6))
    (logits.sum() + value.sum()).backward()
    assert layouts == [True, True]


def _reference_convlstm_step(agent: ConvLSTMAgent, obs, memory, first):
    """The ConvLSTM step as first written: each cell convolves [x, below, h, pooled h]."""
    memory = memory * (~first.bool()).float().view(-1, 1, 1, 1, 1, 1)
    x = F.relu(agent.encoder(obs.float()))
    hs = [memory[:, k, 0] for k in range(LAYERS)]
    cs = [memory[:, k, 1] for k in range(LAYERS)]
    for _ in range(agent.ticks):
        below = hs[-1]
        for k, cell in enumerate(agent.cells):
            h, c = hs[k], cs[k]
            pooled = cell.pool(torch.cat([h.amax((2, 3)), h.mean((2, 3))], 1))
            pooled = pooled[:, :, None, None].expand_as(h)
            gates = F.conv2d(
                torch.cat([x, below, h, pooled], 1),
                cell.gates.weight,
                cell.gates.bias,
                padding=1,
            )
            i, f, o, g = gates.chunk(4, 1)
            c = torch.sigmoid(f + 1.0) * c + torch.sigmoid(i) * torch.tanh(g)
            hs[k], cs[k] = torch.sigmoid(o) * torch.tanh(c), c
            below = hs[k]
    b = obs.shape[0]
    where = obs[:, agent.agent_channel].reshape(b, -1).argmax(1)
    cells = (where.view(b, 1) + agent.offsets.view(1, 5)).clamp(0, x[0, 0].numel() - 1)
    maps = torch.cat([hs[-1], x], 1).reshape(b, 2 * CHANNELS, -1)
    near = maps.gather(2, cells.view(b, 1, 5).expand(b, 2 * CHANNELS, 5)).reshape(b, -1)
    pooled = torch.cat([hs[-1].amax((2, 3)), hs[-1].mean((2, 3))], 1)
    features = agent.head(torch.cat([near, pooled], 1))
    memory = torch.stack([torch.stack([h, c], 1) for h, c in zip(hs, cs)], 1)
    return agent.actor(features), agent.critic(features).squeeze(-1), memory


@pytest.mark.parametrize("ticks", [1, 2, 3])
def test_the_convlstm_is_the_reference_computation(ticks):
    torch.manual_seed(7)
    agent = ConvLSTMAgent((5, 9, 9), 5, 64, ROOMBA, ticks)
    obs = _grid_obs(6 * 20, seed=8).view(6, 20, 5, 9, 9)
    first = torch.rand(6, 20, generator=torch.Generator().manual_seed(9)) < 0.2
    memory = torch.randn(20, LAYERS, 2, CHANNELS, 9, 9) * 0.5
    ref_logits, ref_values, mem = [], [], memory
    for t in range(6):
        lg, v, mem = _reference_convlstm_step(agent, obs[t], mem, first[t])
        ref_logits.append(lg)
        ref_values.append(v)
    ref_logits, ref_values = torch.stack(ref_logits), torch.stack(ref_values)
    logits, values = agent.unroll(obs, memory, first)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(values, ref_values, rtol=1e-5, atol=1e-5)
    lg, v, mem_new = agent.step(obs[0], memory, first[0])
    lg_ref, v_ref, mem_ref = _reference_convlstm_step(agent, obs[0], memory, first[0])
    torch.testing.assert_close(mem_new, mem_ref, rtol=1e-5, atol=1e-5)
    ref = torch.autograd.grad((ref_logits.logsumexp(-1) + ref_values**2).sum(), agent.parameters())
    new = torch.autograd.grad((logits.logsumexp(-1) + values**2).sum(), agent.parameters())
    for a, b in zip(ref, new):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4 * float(a.abs().max()))


# Parameter names and shapes as checkpoints written before the speedups hold them.
PLANNER_KEYS = {
    "log_beta": (),
    "features.0.weight": (32, 5, 3, 3),
    "features.0.bias": (32,),
    "features.2.weight": (32, 32, 3, 3),
    "features.2.bias": (32,),
    "reward_head.weight": (1, 32, 1, 1),
    "reward_head.bias": (1,),
    "critic.0.weight": (64, 38),
    "critic.0.bias": (64,),
    "critic.2.weight": (1, 64),
    "critic.2.bias": (1,),
}
CONVLSTM_KEYS = {
    "encoder.weight": (8, 5, 3, 3),
    "encoder.bias": (8,),
    **{
        f"cells.{k}.{name}": shape
        for k in range(2)
        for name, shape in (
            ("gates.weight", (32, 32, 3, 3)),
            ("gates.bias", (32,)),
            ("pool.weight", (8, 16)),
            ("pool.bias", (8,)),
        )
    },
    "head.0.weight": (128, 96),
    "head.0.bias": (128,),
    "actor.weight": (5, 128),
    "actor.bias": (5,),
    "critic.weight": (1, 128),
    "critic.bias": (1,),
}


@pytest.mark.parametrize(
    "build, keys",
    [
        (lambda: PlannerAgent((5, 9, 9), 5, ROOMBA), PLANNER_KEYS),
        (lambda: ConvLSTMAgent((5, 9, 9), 5, 128, ROOMBA, 2), CONVLSTM_KEYS),
    ],
)
def test_old_checkpoints_load(build, keys):
    agent = build()
    assert {k: tuple(v.shape) for k, v in agent.state_dict().items()} == keys
    torch.manual_seed(11)
    old = {k: torch.randn(shape) for k, shape in keys.items()}  # an old agent.pt's tensors
    agent.load_state_dict(old)  # strict: nothing missing, nothing unexpected
    assert all(torch.equal(agent.state_dict()[k], v) for k, v in old.items())

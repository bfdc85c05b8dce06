"""Running the network: s(t+1) = σ(∂Φ^β/∂s(x, s(t))) for T synchronous steps (spec §1.1)."""

from __future__ import annotations

import torch

from repro.eqprop.model import Context, EnergyNet, tile

STOP_AT_FIXED_POINT = True  # exact: see `relax`; the benchmark can turn it off


def relax(model: EnergyNet, ctx: Context, s: list[torch.Tensor], steps: int, beta=0.0):
    """`steps` updates from `s` with nudging β (a float or one value per sample); no graph.

    Stops early once an update leaves every neuron bit-for-bit unchanged: the update is
    a deterministic function of s, so every later step would return the same state
    (hard-sigmoid nets reach such exact fixed points; the result is unchanged)."""
    with torch.no_grad():
        for _ in range(steps):
            new = model.step(ctx, s, beta)
            if STOP_AT_FIXED_POINT and all(torch.equal(a, b) for a, b in zip(new, s, strict=True)):
                return new
            s = new
    return s


def relax_with_graph(
    model: EnergyNet, ctx: Context, s: list[torch.Tensor], steps: int, beta=0.0, to_output=False
):
    """The same updates, recorded by autograd (truncated BPTT, the GDU check).

    `to_output`: update only the layers that still reach the output layer by the last
    step (layer n, 0-based, needs N - 1 - n more steps): the output layer is the same,
    the layers below keep the last state it depends on (truncated BPTT with T2 shorter
    than the depth, whose loss reads the output layer only)."""
    with torch.enable_grad():
        for t in range(steps):
            lowest = max(model.n_layers - steps + t, 0) if to_output else 0
            s = model.step(ctx, s, beta, lowest)
    return s


def free_phase(model: EnergyNet, x: torch.Tensor, y: torch.Tensor, steps: int):
    """(context, s*, residual): T1 free steps from s = 0; the residual is
    max_n max|s(T1) - s(T1 - 1)| (0 means a fixed point; spec §6.2.10).

    s = 0 is one state shared by every sample (batch 1, see `model.tile`): until the
    input's drive reaches a layer it stays shared, and its convolutions run for one
    sample (the first step costs no batch-sized convolution, the second about half)."""
    with torch.no_grad():
        ctx = model.context(x, y)
        s = relax(model, ctx, model.init_neurons(1, x.device, x.dtype), max(steps - 1, 0))
        last = model.step(ctx, s, 0.0) if steps else s
        residual = max(float((a - b).abs().max()) for a, b in zip(last, s, strict=True))
    return ctx, [tile(t, len(x)) for t in last], residual


def stack(states: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """Concatenate several batches of states layer by layer (run phases side by side); a
    layer that is the same tensor in every state stays one, shared (see `model.tile`)."""
    return [
        layer[0] if all(t is layer[0] for t in layer) else torch.cat(layer)
        for layer in zip(*states, strict=True)
    ]

"""Monotone piecewise cubic interpolation (PCHIP) as scipy.interpolate.PchipInterpolator computes it.

Fritsch and Carlson (1980): each knot's slope is 0 at a local extremum or a flat secant, else a weighted
harmonic mean of the secants beside it, so the curve never overshoots its values; the end slopes follow
scipy's one-sided three-point rule.
"""

from __future__ import annotations

import torch


def _edge_slope(h0, h1, m0, m1):
    """scipy's one-sided three-point end slope, limited to keep the end segment monotone."""
    slope = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    slope = torch.where(slope.sign() != m0.sign(), torch.zeros_like(slope), slope)
    overshoot = (m0.sign() != m1.sign()) & (slope.abs() > 3 * m0.abs())
    return torch.where(overshoot, 3 * m0, slope)


def pchip_slopes(knots: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Fritsch-Carlson slopes as scipy.interpolate.PchipInterpolator computes them.

    ``knots``: [K] increasing, K >= 2; ``values``: [K, D] (D independent series) -> slopes [K, D].
    """
    h = knots.diff().unsqueeze(-1)  # [K-1, 1]
    m = values.diff(dim=0) / h  # secant slopes [K-1, D]
    if len(knots) == 2:
        return torch.cat([m, m])
    # interior: 0 at a local extremum or flat secant, else the weighted harmonic mean of the secants
    flat = (m[1:].sign() != m[:-1].sign()) | (m[1:] == 0) | (m[:-1] == 0)
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    inner = 1 / ((w1 / m[:-1] + w2 / m[1:]) / (w1 + w2))
    inner = torch.where(flat, torch.zeros_like(inner), inner)
    first = _edge_slope(h[0], h[1], m[0], m[1])
    last = _edge_slope(h[-1], h[-2], m[-1], m[-2])
    return torch.cat([first[None], inner, last[None]])


def pchip(knots: torch.Tensor, values: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """The monotone cubic through (knots, values) at ``query`` [Q] -> [Q, D] (values [K, D])."""
    slopes = pchip_slopes(knots, values)
    segment = (torch.searchsorted(knots, query, right=True) - 1).clamp(0, len(knots) - 2)
    t0, h = knots[segment], (knots[segment + 1] - knots[segment])
    tau = ((query - t0) / h).unsqueeze(-1)
    # cubic Hermite basis on [t0, t0 + h]
    h00 = (1 + 2 * tau) * (1 - tau) ** 2
    h10 = tau * (1 - tau) ** 2
    h01 = tau * tau * (3 - 2 * tau)
    h11 = tau * tau * (tau - 1)
    h = h.unsqueeze(-1)
    return (h00 * values[segment] + h10 * h * slopes[segment]
            + h01 * values[segment + 1] + h11 * h * slopes[segment + 1])

"""motion_i2v.tracks.pchip: the monotone cubic agrees with scipy's PchipInterpolator."""

from __future__ import annotations

import pytest
import torch

from motion_i2v.tracks.pchip import pchip


@pytest.mark.parametrize("count", [2, 3, 4, 7])
def test_pchip_matches_scipy(count):
    interpolate = pytest.importorskip("scipy.interpolate")
    generator = torch.Generator().manual_seed(count)
    values = torch.randn(count, 3, generator=generator, dtype=torch.float64) * 50
    if count > 3:  # a flat secant and a repeated extremum exercise the zero-slope branches
        values[2] = values[1]
        values[3, 2] = values[2, 2]
    knots = torch.linspace(0, 1, count, dtype=torch.float64)
    query = torch.linspace(0, 1, 61, dtype=torch.float64)
    expected = interpolate.PchipInterpolator(knots.numpy(), values.numpy())(query.numpy())
    torch.testing.assert_close(pchip(knots, values, query), torch.from_numpy(expected), rtol=0, atol=1e-9)

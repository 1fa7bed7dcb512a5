"""One tile: the exposure loop with the tile's window and the exposures that reach it."""

from __future__ import annotations

from ..drizzle_loop import drizzle_exposures

__all__ = ["drizzle_tile"]


def drizzle_tile(region, load, selected, n_inputs, grid, params, psr):
    """Drizzle the exposures in ``selected`` for one tile; return its arrays.

    Parameters
    ----------
    region : tuple
        ``(y0, y1, x0, x1)`` of the tile, half-open, 0-based output pixels.
    load : callable
        ``load(k)`` -> exposure k as a loaded :class:`gpuresample.Image`.
    selected : dict
        ``{k: reach}`` of the exposures that reach the tile (see
        :class:`~gpuresample.tiling.plan.ExposureFootprint`); the others are
        skipped, keeping their context bit.
    n_inputs : int
        Number of inputs of the product (context planes, bit numbering).
    grid, params, psr
        Output grid, :class:`gpuresample.params.DrizzleParams`, pixel scale ratio.

    Returns
    -------
    dict
        Tile-sized arrays ``data``, ``wht`` and, as enabled, ``con``
        ``(nplanes, ty, tx)``, ``dq``, ``err``, ``var_*``; plus
        ``"any_weight"`` (bool).
    """
    res = drizzle_exposures(load, n_inputs, grid, params, psr, window=tuple(region), select=selected)
    out = res.arrays
    out["any_weight"] = res.any_weight
    return out

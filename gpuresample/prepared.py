"""One exposure made ready for the exposure loop: weight rule, pixel map, input and footprint boxes.

:class:`PreparedExposure` is what every stage of
:func:`gpuresample.drizzle_loop.drizzle_exposures` needs of one exposure;
:func:`input_limits` and :func:`science_data` are the jwst/stcal rules for
the input box and the data drizzled.

Pixel conventions: arrays ``(ny, nx)``, 0-based; boxes half-open ``(y0, y1,
x0, x1)``; input limits inclusive ``(xmin, xmax, ymin, ymax)`` as drizzle's.
"""

from __future__ import annotations

from .backends import get_backend
from .pixmap import bbox_intervals, pixmap_and_model
from .pixmap_model import LazyPixmap
from .restrict import trimmed_limits
from .scanner import shrink_box
from .variance import footprint_box, resample_variance_box
from .weights import weight_rule

__all__ = ["PreparedExposure", "input_limits", "map_geometry", "science_data"]


def input_limits(shape, wcs):
    """Inclusive input box (xmin, xmax, ymin, ymax) from the WCS bounding box (stcal rule)."""
    ny, nx = shape
    bbox = bbox_intervals(wcs)
    if bbox is None:
        return 0, nx - 1, 0, ny - 1
    (x1, x2), (y1, y2) = bbox[:2]
    xmin = max(0, int(x1 + 0.5))
    ymin = max(0, int(y1 + 0.5))
    xmax = max(xmin, min(nx - 1, int(x2 + 0.5)))
    ymax = max(ymin, min(ny - 1, int(y2 + 0.5)))
    return xmin, xmax, ymin, ymax


def science_data(img):
    """The data to drizzle: sky level subtracted unless already done (a new array; the input is never modified)."""
    data = img.data
    if not img.subtracted and img.level is not None:
        data = data - img.level
    return data


def map_geometry(view, shape, wcs, grid_shape, psr):
    """``(limits, lands, box)`` of an exposure of ``shape`` ``(ny, nx)`` whose map is ``view`` (the
    array or a :class:`~gpuresample.pixmap_model.LazyPixmap`): its inclusive input box (stcal's rule
    from the WCS bounding box), whether anything lands (drizzle's NaN shrinking keeps two rows and
    columns) and its footprint box on the grid (half-open, None when nothing lands)."""
    limits = input_limits(shape, wcs)
    lands = bool(shrink_box(view, *limits)[4])
    box = footprint_box(view, grid_shape, psr, *limits) if lands else None
    return limits, lands, box


class PreparedExposure:
    """What every stage needs of one exposure: weight rule, pixel map, input box, footprint box.

    The weights themselves are made where they are used: ``rule`` (a
    :class:`gpuresample.weights.WeightRule`) goes to ``Drizzle.add_image``,
    which a kernel backend evaluates on the device; ``weight`` evaluates it
    on the host when a host stage needs the values (a tile's box trimming,
    the CPU backend's variance drizzles), once.

    With a tile's ``region`` and ``reach`` the weights are masked to the input
    pixels that can reach the region and the input boxes trimmed to them
    (``limits`` for the science drizzle, ``var_limits`` for the footprint-box
    variance drizzles, only computed with ``box_variances``: the kernel
    backends drizzle the variances in the science pass); ``active`` is False
    when nothing is left to drizzle.
    """

    def __init__(self, img, grid, params, psr, region=None, reach=None, box_variances=True, geometry=None):
        self.img = img
        self.rule = weight_rule(img, params.weight_type, params.good_bits)
        if geometry is not None:  # made ahead by a helper process (gpuresample.prefetch), untiled
            self._pixmap, self.pixmap_model = None, geometry.pixmap_model
            self.limits = self.var_limits = geometry.limits
            self.lands, self.box = geometry.lands, geometry.box
            self.active = self.lands
            return
        # The spline of a sparse map travels with it: kernel backends expand it
        # on the device.  An untiled run on one of them does not make the map
        # on the host at all (a tile's masks read every entry).
        lazy = region is None and get_backend(params.backend).prepares_inputs
        self._pixmap, self.pixmap_model = pixmap_and_model(img.wcs, grid.wcs, shape=img.shape, full=not lazy,
                                                           stepsize=params.pixmap_stepsize, order=params.pixmap_order)
        view = self._pixmap if self._pixmap is not None else LazyPixmap(self.pixmap_model)
        self.limits, self.lands, self.box = map_geometry(view, img.shape, img.wcs, grid.shape, psr)
        self.var_limits = self.limits
        self.active = self.lands
        if self.lands and region is not None:
            self._restrict(grid.shape, params, region, reach, box_variances)

    @property
    def pixmap(self):
        """The pixel map ``(ny, nx, 2)`` on the host (made on first use when the run did not need it)."""
        if self._pixmap is None:
            self._pixmap = self.pixmap_model.evaluate()
        return self._pixmap

    @property
    def weight(self):
        """The float32 weights on the host (the rule evaluated once, on first use)."""
        return self.rule.host_weights(self.pixmap)

    def _restrict(self, grid_shape, params, region, reach, box_variances):
        full = self.limits
        self.rule = self.rule.within(region, reach)
        limits = trimmed_limits(self.pixmap, grid_shape, full, self.weight, params.kernel)
        if limits is None:  # every weight is zero: drizzle would write nothing at all
            self.active = False
            return
        self.limits = limits
        if box_variances and params.enable_var and self.box is not None:
            # the variance drizzles run on the footprint box (the map shifted to
            # it, as resample_variance_box does): trim for that canvas
            by0, by1, bx0, bx1 = self.box
            shifted = self.pixmap.copy()
            shifted[..., 0] -= bx0
            shifted[..., 1] -= by0
            self.var_limits = trimmed_limits(shifted, (by1 - by0, bx1 - bx0), full, self.weight, params.kernel)

    def drizzle_args(self, params, psr):
        """Keyword arguments of :meth:`gpuresample.Drizzle.add_image` for this exposure (jwst's choices)."""
        xmin, xmax, ymin, ymax = self.limits
        return dict(exptime=self.img.exposure_time, pixmap=self._pixmap, pixmap_model=self.pixmap_model,
                    pixel_scale_ratio=psr, iscale=1.0,
                    weight_rule=self.rule, wht_scale=1.0, pixfrac=params.pixfrac, in_units="cps",
                    xmin=xmin, xmax=xmax, ymin=ymin, ymax=ymax)

    def variance_boxes(self, params, psr, names):
        """The footprint-box variance drizzles ``{name: (box) float32}`` (consumes the pixel map)."""
        if self.box is None or self.var_limits is None:
            return {}
        return resample_variance_box(self.img, self.pixmap, self.weight, self.box, psr, self.var_limits,
                                     params.kernel, params.pixfrac, params.backend, names)

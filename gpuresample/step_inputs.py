"""A drizzle step's inputs made ready for the kernels: weights, the non-finite rule, ``sqrt(linear)``.

:func:`gpuresample.drizzle_validate.validate_add_image` leaves this
preparation open so that a kernel backend can do it on the device
(``kernels/prepare.cu``: only the arrays the weights are made from cross the
bus); :func:`host_inputs` is the host version, the definition of the values
that the CPU backend computes with and the device must reproduce.
"""

from __future__ import annotations

import numpy as np

from .drizzle_args import as_2d_float32
from .gpu.device import host_copy

__all__ = ["check_linear", "check_weight_rule", "extend_step", "host_inputs", "inputs_on_host",
           "zero_weight_non_finite"]


def check_weight_rule(weight_rule, weight_map, shape):
    """``weight_rule`` (a :class:`gpuresample.weights.WeightRule` for ``data``'s ``shape``) or None."""
    if weight_rule is None:
        return None
    from .weights import WeightRule  # weights -> exposure: kept out of the drizzle API's import

    if not isinstance(weight_rule, WeightRule):
        raise TypeError(f"'weight_rule' must be a gpuresample.weights.WeightRule; got {type(weight_rule).__name__}")
    if weight_map is not None:
        raise ValueError("pass 'weight_map' or 'weight_rule', not both")
    if tuple(weight_rule.shape) != tuple(shape):
        raise ValueError(f"'weight_rule' shape {weight_rule.shape} is not consistent with 'data' shape {shape}")
    return weight_rule


def check_linear(linear, shape):
    """``linear`` (gpuresample extension) as a list of float32 arrays of ``data``'s ``shape``, or None."""
    if linear is None:
        return None
    linear = [as_2d_float32(a, f"linear[{k}]") for k, a in enumerate(linear)]
    for k, a in enumerate(linear):
        if a.shape != shape:
            raise ValueError(f"'linear[{k}]' shape {a.shape} is not consistent with 'data' shape {shape}")
    return linear


def extend_step(step, linear, linear_sqrt, weight_rule, dq):
    """Add the gpuresample extensions of ``add_image`` to a validated ``step``.

    ``linear`` (checked), ``linear_sqrt``; with a ``weight_rule``, which of
    the call's arrays the rule reads — its DQ is the ``dq`` argument, its
    variance one of ``linear`` — so that a kernel backend uploads each once.
    Identity is that of the caller's arguments, before any dtype conversion.
    """
    step.linear = check_linear(linear, step.data.shape)
    step.linear_sqrt = bool(linear_sqrt)
    if weight_rule is not None:
        step.weight_dq_is_dq = dq is not None and weight_rule.dq is dq
        if weight_rule.var is not None and linear:
            step.weight_var_index = next((m for m, a in enumerate(linear) if a is weight_rule.var), None)
    return step


def host_inputs(step):
    """Prepare ``step``'s inputs on the host (once): the weights, the non-finite rule, ``sqrt(linear)``.

    What a kernel backend does on the device instead; afterwards
    ``step.weights`` is the float32 weight array, ``step.data`` has 0
    where it or its weight is not finite, and ``step.linear`` holds the
    arrays to drizzle.
    """
    if step.host_ready:
        return step
    inputs_on_host(step)
    weights = step.weights
    if step.weight_rule is not None:
        weights = step.weight_rule.host_weights(step.pixmap)
    step.data, step.weights = zero_weight_non_finite(step.data, weights)
    if step.linear and step.linear_sqrt:
        with np.errstate(invalid="ignore"):  # a negative variance: NaN, as jwst's sqrt
            step.linear = [np.sqrt(a) for a in step.linear]
    step.weight_rule, step.linear_sqrt, step.host_ready = None, False, True
    return step


def inputs_on_host(step):
    """Make every input of ``step`` a host array, for a backend that computes on the host.

    A lazy or device pixel map (:class:`~gpuresample.pixmap_model.LazyPixmap`,
    :class:`~gpuresample.device_pixmap.DevicePixmap`) is made whole on the
    host, device arrays (CuPy, emulator) are downloaded once (counted).
    """
    if hasattr(step.pixmap, "materialize"):
        step.pixmap = step.pixmap.materialize()

    def host(a):
        return None if a is None else host_copy(a)  # host arrays pass as they are

    step.data, step.weights, step.dq = host(step.data), host(step.weights), host(step.dq)
    if step.data2 is not None:
        step.data2 = [host(a) for a in step.data2]
    if step.linear is not None:
        step.linear = [host(a) for a in step.linear]
    if step.weight_rule is not None:
        step.weight_rule = step.weight_rule.on_host()
    return step


def zero_weight_non_finite(data, weights):
    """``(data, weights)`` with weight 0 (and data 0) where data or weight is not finite.

    ``weights`` None means 1 everywhere; the inputs are not modified.  A sum is
    finite only if every term is (or overflows, which the exact check then
    handles): one cheap reduction on the usual path.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        clean = np.isfinite(np.sum(data)) and (weights is None or np.isfinite(np.sum(weights)))
    bad = None
    if not clean:
        bad = ~np.isfinite(data)
        if weights is not None:
            bad |= ~np.isfinite(weights)
    if bad is not None and bad.any():
        weights = np.ones_like(data) if weights is None else weights.copy()
        weights[bad] = 0.0
        data = np.where(bad, np.float32(0), data)
    if weights is None:
        weights = np.ones_like(data)
    return data, weights

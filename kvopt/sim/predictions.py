"""Output-length predictions for online policies: exact, noisy, with a protection margin."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["noisy_predictions", "with_margin"]


def noisy_predictions(output: np.ndarray, eps: float, rng: np.random.Generator) -> np.ndarray:
    r"""Predictions with relative error at most ``eps``: :math:`p_i = \max(1, \mathrm{round}(o_i
    (1 + u_i)))`, :math:`u_i \sim U[-\varepsilon, \varepsilon]` i.i.d. from ``rng``.

    ``round`` is numpy's ``rint`` (halves to even). ``eps = 0`` returns ``output`` (and draws
    nothing from ``rng``).

    Raises
    ------
    ValueError
        If ``eps`` is negative or not finite.
    """
    output = np.asarray(output, dtype=np.int64)
    if not (np.isfinite(eps) and eps >= 0):
        raise ValueError(f"the prediction error eps must be a non-negative number, got {eps}")
    if eps == 0:
        return output.copy()
    u = rng.uniform(-eps, eps, size=output.shape)
    return np.maximum(1, np.rint(output * (1.0 + u))).astype(np.int64)


def with_margin(predicted: np.ndarray, margin: float) -> np.ndarray:
    r""":math:`\lceil p_i (1 + \mathrm{margin}) \rceil`, exact for the decimal ``margin`` written
    (0.1 is 1/10).

    Raises
    ------
    ValueError
        If ``margin`` is negative.
    """
    predicted = np.asarray(predicted, dtype=np.int64)
    if not margin >= 0:
        raise ValueError(f"the protection margin must be non-negative, got {margin}")
    frac = Fraction(str(margin))
    num, den = frac.numerator + frac.denominator, frac.denominator
    return -((-predicted * num) // den)

r"""Output-length predictions: produced by the environment, before the run, never by a policy.

An online policy never sees true output lengths. What it sees instead is :class:`Predictions`:
a point prediction ``predicted`` and an interval ``[lower, upper]`` per request, which the engine
reveals as each request arrives (:class:`~kvopt.sim.state.PolicyContext`). A *prediction model*
(:class:`PredictionModel`) makes them from the instance (it may read the true outputs: it is the
environment, like a trained predictor) and a random stream; the engines apply it before the run.

* :func:`instance_predictions`: the instance's own columns (``predicted``, else the true
  output: exact predictions; ``lower``/``upper``, else the point prediction).
* :class:`PointPredictions`: relative noise ``eps`` on the true outputs, then a protection
  ``margin`` (the CLI's ``simulate --eps --margin``).

:func:`resolve_predictions` is the one entry the engines use: ``predicted=`` of
:func:`kvopt.sim.engine.simulate` may be ``None`` (the instance's), an array of point
predictions, a :class:`Predictions`, or a model.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Protocol, runtime_checkable

import numpy as np

from kvopt.instance import Instance

__all__ = [
    "PointPredictions",
    "PredictionModel",
    "Predictions",
    "PredictionsLike",
    "instance_predictions",
    "noisy_predictions",
    "resolve_predictions",
    "with_margin",
]


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


def _frozen(values: object, name: str, n: int, minimum: int) -> np.ndarray:
    arr = np.array(values, dtype=np.int64)
    if arr.shape != (n,):
        raise ValueError(f"{name} has shape {arr.shape}, expected ({n},)")
    if (bad := np.flatnonzero(arr < minimum)).size:
        raise ValueError(f"{name}[{int(bad[0])}] = {int(arr[bad[0]])} is below {minimum}")
    arr.flags.writeable = False
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class Predictions:
    """What the environment predicts of every request's output length (read-only int64[n]).

    Attributes
    ----------
    predicted
        Point predictions, ``>= 1``.
    lower, upper
        An interval per request, ``0 <= lower <= upper`` and ``upper >= 1``; a point prediction
        is the interval ``[p, p]``.
    """

    predicted: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self) -> None:
        given = self.predicted
        point = _frozen(given, "predicted", len(np.asarray(given).reshape(-1)), 1)
        object.__setattr__(self, "predicted", point)
        for name, minimum in (("lower", 0), ("upper", 1)):
            value = getattr(self, name)   # the point column itself stays shared (no copy)
            col = point if value is given else _frozen(value, name, len(point), minimum)
            object.__setattr__(self, name, col)
        if (bad := np.flatnonzero(self.lower > self.upper)).size:
            i = int(bad[0])
            raise ValueError(f"request {i}: lower {int(self.lower[i])} is above upper "
                             f"{int(self.upper[i])}")

    @classmethod
    def point(cls, predicted: np.ndarray) -> Predictions:
        """Point predictions, each its own interval ``[p, p]``."""
        return cls(predicted, predicted, predicted)

    @property
    def num_requests(self) -> int:
        return len(self.predicted)


@runtime_checkable
class PredictionModel(Protocol):
    """Makes the predictions of an instance, before the run (the environment's side)."""

    def predict(self, instance: Instance, rng: np.random.Generator) -> Predictions: ...


def instance_predictions(instance: Instance) -> Predictions:
    """The instance's own columns: ``predicted`` (else the true output: exact predictions),
    ``lower`` and ``upper``; an absent bound is the point prediction (the interval ``[p, p]``
    when both are absent), or the other bound where that one is on the wrong side of it."""
    p, lower, upper = instance.prediction(), instance.lower, instance.upper
    if upper is None:
        if lower is None:
            return Predictions.point(p)
        upper = np.maximum(p, lower)
    elif lower is None:
        lower = np.minimum(p, upper)
    return Predictions(p, lower, upper)


@dataclasses.dataclass(frozen=True)
class PointPredictions:
    r"""Point predictions with relative noise and a protection margin.

    With ``eps > 0``, :math:`p_i = \max(1, \mathrm{rint}(o_i (1 + u_i)))`, :math:`u_i \sim
    U[-\varepsilon, \varepsilon]`, the ``n`` draws taken from ``rng`` in request order
    (:func:`noisy_predictions`); with ``eps = 0`` the instance's predictions (exact by default)
    and no draw. Then :math:`\lceil p_i (1 + \mathrm{margin}) \rceil` (:func:`with_margin`).
    Intervals are the points.
    """

    eps: float = 0.0
    margin: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.eps) and self.eps >= 0):
            raise ValueError(f"eps must be a non-negative number, got {self.eps}")
        if not self.margin >= 0:
            raise ValueError(f"margin must be non-negative, got {self.margin}")

    def predict(self, instance: Instance, rng: np.random.Generator) -> Predictions:
        if self.eps > 0:
            p = noisy_predictions(instance.output, self.eps, rng)
        else:
            p = instance.prediction()
        if self.margin:
            p = with_margin(p, self.margin)
        return Predictions.point(p)


#: what ``predicted=`` of the engines accepts
PredictionsLike = Predictions | PredictionModel | np.ndarray


def resolve_predictions(instance: Instance, predicted: PredictionsLike | None,
                        rng: np.random.Generator) -> Predictions:
    """The predictions of a run: the instance's (``None``), point predictions (an array), as
    given (:class:`Predictions`), or made by a model now, drawing from ``rng``.

    Raises
    ------
    ValueError
        On a column of the wrong length or with a value out of range.
    """
    if predicted is None:
        preds = instance_predictions(instance)
    elif isinstance(predicted, Predictions):
        preds = predicted
    elif isinstance(predicted, PredictionModel):
        preds = predicted.predict(instance, rng)
    else:
        preds = Predictions.point(predicted)
    if preds.num_requests != instance.num_requests:
        raise ValueError(f"predicted has shape ({preds.num_requests},), expected "
                         f"({instance.num_requests},)")
    return preds

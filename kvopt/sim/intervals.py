r"""Interval predictions of output lengths: the environment's generators G1, G2, G3 and misses.

``specs/prediction-intervals-and-bins.md`` section A6. Each generator reads the true outputs (it
is the environment, like a trained length classifier) and writes an interval ``[lower_i,
upper_i]`` per request with ``lower_i <= o_i <= upper_i`` (unless a *miss* moves it, below);
prediction quality is ``alpha = lower / upper`` in ``(0, 1]``, taken as the exact decimal written
(0.8 is 4/5). A policy sees the intervals through its context
(:class:`~kvopt.sim.state.PolicyContext`), never the outputs.

* **G1, global:** ``lower_i = min_j o_j``, ``upper_i = max_j o_j`` for every request: one crude
  interval whose alpha is the instance's ``min / max`` (the generator takes no alpha).
* **G2, classes:** the length axis is cut into classes and each request gets the class holding
  its true length. ``geometric`` (default): class ``k`` is ``[e_k, e_{k+1} - 1]`` with
  ``e_0 = 1`` and ``e_k = max(e_{k-1} + 1, round(alpha^-k))``, so ``lower/upper ~ alpha``;
  ``quantile``: ``num_classes`` classes of equal mass over the instance's outputs (edges at the
  outputs' quantiles; not specified by the paper; default: edges are the ``j/K`` quantiles by
  numpy's linear rule, rounded up to an integer, duplicates dropped), as a length classifier
  would give.
* **G3, per-request alpha:** ``U_i ~ Uniform[alpha, 1]``, ``lower_i = max(1, ceil(U_i o_i))``,
  ``upper_i = floor(lower_i / alpha)``, so ``upper_i >= o_i``. Placement of ``o_i``: ``uniform``
  (the draw above), ``low`` (``lower_i = o_i``: the worst for A_max), ``high``
  (``lower_i = max(1, ceil(alpha o_i))``, so ``o_i`` sits near ``upper_i``: the worst for A_min).
* **miss_prob** (outside the paper's model; G2 only): with this probability a request is given a
  neighbouring class instead of its own, left or right with equal chance (the only neighbour at
  the lowest class, or of a quantile class at either end; no miss when there is one class), so
  ``o_i`` falls outside its interval.

At ``alpha = 1`` G2 and G3 return ``lower = upper = o``.

:class:`IntervalPredictions` is the prediction model (:class:`~kvopt.sim.predictions.
PredictionModel`) the engines apply before a run: its point prediction is the interval's
midpoint ``max(1, (lower + upper) // 2)`` (not specified by the paper; default), so a policy that
reads ``predicted`` learns nothing beyond the interval. :func:`with_intervals` writes the
columns into an instance (``kvopt generate synthetic --intervals``). :class:`ExactPredictions`
is the environment of the clairvoyant reference H-SF: every prediction is the true output.

Random draws, from the ``rng`` given, in this order: G3 ``uniform`` draws ``n`` uniforms; a
miss draws ``n`` uniforms for who misses, then ``n`` for the direction. Nothing else draws.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Literal

import numpy as np

from kvopt.instance import Instance
from kvopt.sim.predictions import PointPredictions, PredictionModel, Predictions

__all__ = [
    "GENERATORS",
    "ExactPredictions",
    "IntervalPredictions",
    "g1_intervals",
    "g2_intervals",
    "g3_intervals",
    "geometric_edges",
    "interval_model",
    "interval_stream",
    "quantile_edges",
    "run_predictions",
    "with_intervals",
]

GENERATORS = ("g1", "g2", "g3")
Generator = Literal["g1", "g2", "g3"]
ClassRule = Literal["geometric", "quantile"]
Placement = Literal["uniform", "low", "high"]


def _alpha(alpha: float) -> Fraction:
    """``alpha`` as the exact decimal written; raises ValueError outside ``(0, 1]``."""
    if not (0 < alpha <= 1):
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    return Fraction(str(alpha))


def _outputs(output: np.ndarray) -> np.ndarray:
    out = np.asarray(output, dtype=np.int64).reshape(-1)
    if out.size and out.min() < 1:
        raise ValueError(f"outputs must be at least 1, got {int(out.min())}")
    return out


def g1_intervals(output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """G1: every request gets ``[min o, max o]``."""
    out = _outputs(output)
    if not out.size:
        return out.copy(), out.copy()
    return np.full_like(out, out.min()), np.full_like(out, out.max())


def geometric_edges(alpha: float, largest: int) -> np.ndarray:
    """Class edges ``e_0 = 1 < e_1 < ...`` up to the first edge above ``largest``:
    ``e_k = max(e_{k-1} + 1, round(alpha^-k))`` (Python's ``round``: halves to even), computed
    exactly from the decimal ``alpha``. Class ``k`` is ``[e_k, e_{k+1} - 1]``.

    Raises
    ------
    ValueError
        If ``alpha`` is not in ``(0, 1)`` (at 1 every class is one length).
    """
    a = _alpha(alpha)
    if a == 1:
        raise ValueError("geometric classes need alpha < 1 (alpha = 1 is exact)")
    edges = [1]
    power = Fraction(1)
    while edges[-1] <= largest:
        power /= a
        edges.append(max(edges[-1] + 1, round(power)))
    return np.array(edges, dtype=np.int64)


def quantile_edges(output: np.ndarray, num_classes: int) -> np.ndarray:
    """Edges of ``num_classes`` equal-mass classes of ``output``: ``1``, the ``j / K`` quantiles
    (numpy's linear rule, rounded up, ``j = 1 .. K - 1``), and ``max o + 1``, strictly increasing
    (equal quantiles merge classes)."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    out = _outputs(output)
    inner = np.ceil(np.quantile(out, np.arange(1, num_classes) / num_classes)).astype(np.int64)
    return np.unique(np.concatenate([[1], inner, [int(out.max()) + 1]]))


def g2_intervals(
    output: np.ndarray, alpha: float, rng: np.random.Generator | None = None, *,
    classes: ClassRule = "geometric", num_classes: int = 4, miss_prob: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """G2: the class holding each output (``geometric`` in ``alpha``, or ``quantile`` with
    ``num_classes``); with ``miss_prob``, a neighbouring class (module docstring).

    Raises
    ------
    ValueError
        On an unknown class rule, ``alpha`` outside ``(0, 1]``, ``miss_prob`` outside
        ``[0, 1]``, or a miss without ``rng``.
    """
    out = _outputs(output)
    a = _alpha(alpha)
    if not (0 <= miss_prob <= 1):
        raise ValueError(f"miss_prob must be in [0, 1], got {miss_prob}")
    if classes not in ("geometric", "quantile"):
        raise ValueError(f"classes must be 'geometric' or 'quantile', got {classes!r}")
    if not out.size:
        return out.copy(), out.copy()
    if classes == "geometric":
        # one class beyond the one holding max o, so a miss can move any request up
        largest = int(out.max())
        edges = (np.arange(1, largest + 3, dtype=np.int64) if a == 1
                 else geometric_edges(alpha, int(geometric_edges(alpha, largest)[-1])))
    else:
        edges = quantile_edges(out, num_classes)
    cls = np.searchsorted(edges, out, side="right") - 1          # edges[cls] <= o < next edge
    if miss_prob > 0:
        if rng is None:
            raise ValueError("a miss_prob above 0 needs a random stream")
        miss = rng.random(out.size) < miss_prob
        right = rng.random(out.size) < 0.5
        last = len(edges) - 2                                     # the last class
        step = np.where(right, 1, -1)
        step = np.where(cls == 0, 1, step)                        # no class below the first
        if classes == "quantile":
            step = np.where(cls == last, -1, step)
            step = np.where(cls == 0, 1, step) if last > 0 else np.zeros_like(step)
        cls = np.where(miss, cls + step, cls)
    return edges[cls].copy(), edges[cls + 1] - 1


def g3_intervals(
    output: np.ndarray, alpha: float, rng: np.random.Generator | None = None, *,
    placement: Placement = "uniform",
) -> tuple[np.ndarray, np.ndarray]:
    """G3: a per-request interval with ``lower / upper ~ alpha`` holding ``o`` (module docstring).

    Raises
    ------
    ValueError
        On an unknown placement, ``alpha`` outside ``(0, 1]``, or ``uniform`` without ``rng``.
    """
    out = _outputs(output)
    a = _alpha(alpha)
    num, den = a.numerator, a.denominator
    floor_low = -((-out * num) // den)                            # ceil(alpha o), exactly
    if placement == "low":
        lower = out.copy()
    elif placement == "high":
        lower = floor_low
    elif placement == "uniform":
        if rng is None:
            raise ValueError("placement 'uniform' needs a random stream")
        u = rng.uniform(float(a), 1.0, size=out.size)
        lower = np.maximum(np.ceil(u * out).astype(np.int64), floor_low)
        lower = np.minimum(lower, out)                            # u <= 1, float rounding aside
    else:
        raise ValueError(f"placement must be 'uniform', 'low' or 'high', got {placement!r}")
    lower = np.maximum(lower, 1)
    upper = (lower * den) // num                                  # floor(lower / alpha) >= o
    return lower, upper


@dataclasses.dataclass(frozen=True)
class IntervalPredictions:
    """The environment's interval predictions (a :class:`~kvopt.sim.predictions.
    PredictionModel`): generator ``g1``, ``g2`` or ``g3`` with its parameters (module
    docstring); the point prediction is the midpoint.

    Raises
    ------
    ValueError
        On construction, for an unknown generator, class rule or placement, ``alpha`` outside
        ``(0, 1]``, ``miss_prob`` outside ``[0, 1]`` or above 0 with another generator than G2.
    """

    alpha: float = 1.0
    generator: Generator = "g3"
    placement: Placement = "uniform"
    classes: ClassRule = "geometric"
    num_classes: int = 4
    miss_prob: float = 0.0

    def __post_init__(self) -> None:
        if self.generator not in GENERATORS:
            raise ValueError(f"generator must be one of {', '.join(GENERATORS)}, got "
                             f"{self.generator!r}")
        _alpha(self.alpha)
        if self.placement not in ("uniform", "low", "high"):
            raise ValueError(f"placement must be 'uniform', 'low' or 'high', got "
                             f"{self.placement!r}")
        if self.classes not in ("geometric", "quantile"):
            raise ValueError(f"classes must be 'geometric' or 'quantile', got {self.classes!r}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {self.num_classes}")
        if not (0 <= self.miss_prob <= 1):
            raise ValueError(f"miss_prob must be in [0, 1], got {self.miss_prob}")
        if self.miss_prob and self.generator != "g2":
            raise ValueError("miss_prob moves a request to a neighbouring G2 class: it needs "
                             "the g2 generator")

    def intervals(self, output: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` for the true outputs ``output``."""
        if self.generator == "g1":
            return g1_intervals(output)
        if self.generator == "g2":
            return g2_intervals(output, self.alpha, rng, classes=self.classes,
                                num_classes=self.num_classes, miss_prob=self.miss_prob)
        return g3_intervals(output, self.alpha, rng, placement=self.placement)

    def predict(self, instance: Instance, rng: np.random.Generator) -> Predictions:
        lower, upper = self.intervals(instance.output, rng)
        return Predictions(np.maximum(1, (lower + upper) // 2), lower, upper)


@dataclasses.dataclass(frozen=True)
class ExactPredictions:
    """Every prediction is the true output (``predicted = lower = upper = o``): the environment of
    the clairvoyant reference H-SF, which is not an online policy."""

    def predict(self, instance: Instance, rng: np.random.Generator) -> Predictions:
        return Predictions.point(instance.output)


def with_intervals(instance: Instance, model: IntervalPredictions,
                   rng: np.random.Generator) -> Instance:
    """``instance`` with the ``lower`` and ``upper`` columns ``model`` draws (other columns
    kept)."""
    lower, upper = model.intervals(instance.output, rng)
    return instance.replace(lower=lower, upper=upper)


def interval_model(intervals: str | None, alpha: float | None = None,
                   placement: str | None = None, miss_prob: float | None = None,
                   classes: str | None = None) -> IntervalPredictions | None:
    """The model that command-line options describe (``generate synthetic --intervals``):
    ``None`` without ``intervals``; G2 and G3 need ``alpha``.

    Raises
    ------
    ValueError
        One line naming the option: an option without ``--intervals``, a missing ``--alpha``,
        an option the generator does not take, a value out of range.
    """
    given = {"--alpha": alpha, "--placement": placement, "--miss-prob": miss_prob,
             "--classes": classes}
    if intervals is None:
        if named := [k for k, v in given.items() if v is not None]:
            raise ValueError(f"{named[0]} needs --intervals g1|g2|g3")
        return None
    if intervals not in GENERATORS:
        raise ValueError(f"--intervals must be one of {', '.join(GENERATORS)}, got {intervals!r}")
    unused = {"g1": ("--alpha", "--placement", "--miss-prob", "--classes"),
              "g2": ("--placement",), "g3": ("--miss-prob", "--classes")}[intervals]
    if named := [k for k in unused if given[k] is not None]:
        raise ValueError(f"{named[0]} does not apply to --intervals {intervals}")
    if intervals != "g1" and alpha is None:
        raise ValueError(f"--intervals {intervals} needs --alpha A in (0, 1]")
    return IntervalPredictions(
        1.0 if alpha is None else alpha, intervals,  # type: ignore[arg-type]
        placement=placement or "uniform", classes=classes or "geometric",  # type: ignore[arg-type]
        miss_prob=miss_prob or 0.0)


def interval_stream(seed: int, j: int) -> np.random.Generator:
    """The stream of instance ``j``'s intervals in a set seeded with ``seed``: the first child
    of the set's ``j``-th stream (:func:`kvopt.generate.synthetic_set` draws the instance from
    that stream itself), so adding intervals leaves the instances as they were."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(j, 0)))


def run_predictions(instance: Instance, rng: np.random.Generator, *, eps: float = 0.0,
                    margin: float = 0.0, own: PredictionModel | None = None) -> Predictions:
    """The predictions a command-line run gives its policy: the policy's ``own`` (H-SF's exact
    outputs) if it has some, else :class:`~kvopt.sim.predictions.PointPredictions` with
    ``eps`` and ``margin`` and the instance's ``lower``/``upper`` columns, when it has them, as
    the intervals."""
    if own is not None:
        return own.predict(instance, rng)
    point = PointPredictions(eps=eps, margin=margin).predict(instance, rng)
    if instance.lower is None and instance.upper is None:
        return point
    p = point.predicted
    return Predictions(p, p if instance.lower is None else instance.lower,
                       p if instance.upper is None else instance.upper)

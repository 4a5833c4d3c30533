"""Upper tails of count distributions, vectorised and safe far out in the tail.

The detector asks "how likely is it that normal traffic gives at least x distinct reporters, when we
expected mu?" for every active series every minute. Counts are small (often 0 to 3), so a Gaussian
z-score would be badly wrong; we use the exact Poisson tail, or the negative binomial (NB) tail when the
expectation itself is uncertain or the series is overdispersed. With variance = mu + mu^2 / r:

    Poisson:  P(X >= x) = P(x, mu)                       (regularised lower incomplete gamma)
    NB(r):    P(X >= x) = I_q(x, r),  q = mu / (r + mu)  (regularised incomplete beta)

Both underflow to 0 long before an outage of thousands of reports stops being "more surprising"; there we
switch to log pmf(x) - log(1 - rho), rho the ratio of consecutive probabilities at x: the geometric series
that bounds the tail, accurate to a few per cent in log space, which is all a score of hundreds needs.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

LN10 = float(np.log(10.0))
# Below this the special functions lose relative accuracy and then underflow; use the log-space bound.
_TINY = 1e-250


def log_sf(x: ArrayLike, mu: ArrayLike, r: ArrayLike) -> NDArray[np.float64]:
    """Natural log of P(X >= x) for a count with mean `mu` and NB shape `r` (np.inf means Poisson).

    Arrays broadcast. x <= 0 gives 0 (certain). mu must be > 0, r > 0.
    """
    x, mu, r = (np.asarray(v, dtype=np.float64) for v in (x, mu, r))
    if not x.shape == mu.shape == r.shape:
        x, mu, r = np.broadcast_arrays(x, mu, r)
    if x.ndim == 0:
        return log_sf(x.reshape(1), mu.reshape(1), r.reshape(1)).reshape(())
    out = np.zeros(x.shape, dtype=np.float64)
    pos = x > 0
    if not pos.all():
        if not pos.any():
            return out
        x, mu, r = x[pos], mu[pos], r[pos]
    poisson = ~np.isfinite(r)
    if poisson.any():
        tail = np.empty_like(x)
        tail[poisson] = special.gammainc(x[poisson], mu[poisson])
        nb = ~poisson
        tail[nb] = special.betainc(x[nb], r[nb], mu[nb] / (r[nb] + mu[nb]))
    else:
        tail = special.betainc(x, r, mu / (r + mu))
    far = tail < _TINY
    result = np.log(np.where(far, 1.0, tail))
    if far.any():
        result[far] = _log_far_tail(x[far], mu[far], r[far])
    if pos.all():
        return np.minimum(result, 0.0)
    out[pos] = np.minimum(result, 0.0)
    return out


def _log_far_tail(
    x: NDArray[np.float64], mu: NDArray[np.float64], r: NDArray[np.float64]
) -> NDArray[np.float64]:
    """log pmf(x) - log(1 - rho): the geometric bound on a tail too thin for the special functions."""
    poisson = ~np.isfinite(r)
    rs = np.where(poisson, 1.0, r)  # placeholder shape where Poisson, so the NB terms stay finite
    q = mu / (rs + mu)
    # scipy.special carries no types: the annotations say what its ufuncs return here.
    nb_logpmf: NDArray[np.float64] = (
        special.gammaln(x + rs)
        - special.gammaln(rs)
        - special.gammaln(x + 1.0)
        - rs * np.log1p(mu / rs)
        + x * np.log(q)
    )
    poisson_logpmf: NDArray[np.float64] = x * np.log(mu) - mu - special.gammaln(x + 1.0)
    # For r < 1 the ratio of consecutive terms grows towards q further out; q bounds it, so take the larger.
    nb_ratio = np.maximum((x + rs) / (x + 1.0) * q, np.where(rs < 1.0, q, 0.0))
    logpmf = np.where(poisson, poisson_logpmf, nb_logpmf)
    ratio = np.where(poisson, mu / (x + 1.0), nb_ratio)
    return logpmf - np.log1p(-np.minimum(ratio, 1.0 - 1e-12))


def surprise(x: ArrayLike, mu: ArrayLike, r: ArrayLike) -> NDArray[np.float64]:
    """Score = -log10 P(X >= x): 8 means one chance in 10^8 under the baseline."""
    return -log_sf(x, mu, r) / LN10


def shape(inverse: ArrayLike) -> NDArray[np.float64]:
    """NB shape r from 1/r (0 -> np.inf, i.e. Poisson)."""
    inv = np.asarray(inverse, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(inv > 0, 1.0 / np.maximum(inv, 1e-300), np.inf)


def band(mu: float, r: float, coverage: float) -> tuple[float, float]:
    """Central interval of the predictive count distribution holding `coverage` of its mass."""
    lo_q, hi_q = (1.0 - coverage) / 2.0, (1.0 + coverage) / 2.0
    if mu <= 0:
        return 0.0, 0.0
    # Both quantiles in one call to the distribution's ppf (what a frozen distribution would call, without
    # the cost of freezing one per finding).
    quantiles = [lo_q, hi_q]
    if np.isfinite(r):
        lo, hi = stats.nbinom.ppf(quantiles, r, r / (r + mu))
    else:
        lo, hi = stats.poisson.ppf(quantiles, mu)
    return float(lo), float(hi)

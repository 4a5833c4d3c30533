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
    x, mu, r = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64), np.asarray(mu, dtype=np.float64), np.asarray(r, dtype=np.float64)
    )
    out = np.zeros(x.shape, dtype=np.float64)
    pos = x > 0
    if not pos.any():
        return out
    xp, mp, rp = x[pos], mu[pos], r[pos]
    poisson = ~np.isfinite(rp)
    tail = np.empty_like(xp)
    ratio = np.empty_like(xp)
    logpmf = np.empty_like(xp)
    if poisson.any():
        xs, ms = xp[poisson], mp[poisson]
        tail[poisson] = special.gammainc(xs, ms)
        logpmf[poisson] = xs * np.log(ms) - ms - special.gammaln(xs + 1.0)
        ratio[poisson] = ms / (xs + 1.0)
    nb = ~poisson
    if nb.any():
        xs, ms, rs = xp[nb], mp[nb], rp[nb]
        q = ms / (rs + ms)
        tail[nb] = special.betainc(xs, rs, q)
        logpmf[nb] = (
            special.gammaln(xs + rs)
            - special.gammaln(rs)
            - special.gammaln(xs + 1.0)
            - rs * np.log1p(ms / rs)
            + xs * np.log(q)
        )
        # For r < 1 the ratio grows towards q further out; q bounds it, so take the larger.
        ratio[nb] = np.maximum((xs + rs) / (xs + 1.0) * q, np.where(rs < 1.0, q, 0.0))
    far = tail < _TINY
    result = np.log(np.where(far, 1.0, tail))
    if far.any():
        result[far] = logpmf[far] - np.log1p(-np.minimum(ratio[far], 1.0 - 1e-12))
    out[pos] = np.minimum(result, 0.0)
    return out


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
    dist = stats.nbinom(r, r / (r + mu)) if np.isfinite(r) else stats.poisson(mu)
    return float(dist.ppf(lo_q)), float(dist.ppf(hi_q))

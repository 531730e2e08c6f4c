"""Seeded percentile and BCa bootstrap intervals for any statistic: :func:`bootstrap_ci`.

Steps: group and cluster codes → per group, its resampling units → replicates and the
jackknife of the statistic (vectorized when it takes ``weights``) → the interval per
statistic → the result with its notes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from .._results import TableResult
from .._validation import Options, check_columns, validate_params
from ..exceptions import ConfigError, DataError
from .repeated import CI_LEVEL, N_BOOT, SEED, as_list
from .resample import (
    CHUNK_ELEMS,
    JACK_MAX,
    MIN_CLUSTERS,
    PROGRESS_WORK,
    bootstrap_interval,
    few_clusters_note,
    indices_from_counts,
    make_rng,
    progress_bar,
    resample_counts,
)

__all__ = ["bootstrap_ci"]

_LABELS = [str, list, tuple, np.ndarray, pd.Series, None]


def _labels(data, spec, name: str, func: str):
    """Group / cluster labels from a column name (DataFrame) or an array of labels."""
    if spec is None:
        return None, []
    if isinstance(data, pd.DataFrame) and (
        isinstance(spec, str)
        or (isinstance(spec, (list, tuple)) and all(isinstance(s, str) for s in spec))
    ):
        cols = as_list(spec)
        check_columns(data, cols, func=func, what="table")
        return data[cols].reset_index(drop=True), cols
    lab = pd.Series(np.asarray(spec))
    if len(lab) != len(data):
        raise ConfigError(
            f"The '{name}' parameter of {func} must be column name(s) or an array with one "
            f"label per row ({len(data)}). Got length {len(lab)}."
        )
    return lab.to_frame(name), [name]


def _take(data, idx):
    if isinstance(data, (pd.DataFrame, pd.Series)):
        return data.iloc[idx]
    return np.asarray(data)[idx]


def _names_values(value, func: str) -> tuple[list[str], np.ndarray]:
    if isinstance(value, pd.Series):
        return [str(k) for k in value.index], value.to_numpy(dtype=float)
    if isinstance(value, Mapping):
        return [str(k) for k in value], np.array(list(value.values()), dtype=float)
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return ["statistic"], arr.reshape(1)
    if arr.ndim == 1:
        return [f"statistic_{i}" for i in range(arr.size)], arr
    raise DataError(
        f"The statistic passed to {func} must return a number, a 1-D array, a dict or a "
        f"Series of numbers. Got an array of shape {arr.shape}."
    )


def _as_values(value) -> np.ndarray:
    if isinstance(value, pd.Series):
        return value.to_numpy(dtype=float)
    if isinstance(value, Mapping):
        return np.array(list(value.values()), dtype=float)
    return np.asarray(value, dtype=float).reshape(-1)


@validate_params(
    {
        "episodes": ["frame", pd.Series, np.ndarray, list, tuple],
        "statistic": ["callable"],
        "n_boot": N_BOOT,
        "method": [Options("bca", "percentile")],
        "seed": SEED,
        "cluster": _LABELS,
        "by": _LABELS,
        "ci_level": CI_LEVEL,
        "progress": ["boolean", None],
    },
    renamed={"data": "episodes"},
)
def bootstrap_ci(
    episodes,
    statistic: Callable,
    *,
    n_boot: int = 2000,
    method: str = "bca",
    seed=None,
    cluster=None,
    by=None,
    ci_level: float = 0.95,
    progress: bool | None = None,
) -> TableResult:
    r"""Bootstrap confidence interval (BCa or percentile) for any statistic of a table.

    Episodes (rows) are resampled with replacement — or, with ``cluster``, whole clusters
    (e.g. sites; Davison & Hinkley 1997, §3.8) — ``n_boot`` times from a seeded
    :class:`numpy.random.Generator`; with ``by``, separately within each group (one row of
    results per group and statistic).

    ``statistic`` is either

    * ``f(df) -> number | dict | Series | 1-D array``: called once per replicate on the
      resampled table (index matrices are drawn in vectorized chunks); or
    * *vectorized*: ``f(df, weights) -> array``, recognised by a parameter named
      ``weights``. It receives a ``(b, n)`` array of bootstrap counts (how often each row
      is drawn in each of ``b`` replicates) and returns ``b`` values (or ``(b, k)``).
      Weighted sums ``weights @ x`` make 2,000 replicates cost a few matrix products.

    The **BCa** interval (Efron 1987; Efron & Tibshirani 1993, §14.3) is

    .. math::
        \alpha_{1,2} = \Phi\!\left(\hat z_0 + \frac{\hat z_0 + z_{\alpha/2,\,1-\alpha/2}}
        {1 - \hat a(\hat z_0 + z_{\alpha/2,\,1-\alpha/2})}\right)

    with :math:`\hat z_0 = \Phi^{-1}(\#\{\theta^*_b < \hat\theta\} + \tfrac12\#\{\theta^*_b
    = \hat\theta\})/B` and the jackknife acceleration :math:`\hat a = \sum u_i^3 / (6(\sum
    u_i^2)^{3/2})`, :math:`u_i = \bar\theta_{(\cdot)} - \hat\theta_{(i)}`; the limits are
    the :math:`\alpha_1, \alpha_2` quantiles (linear interpolation) of the replicates — the
    conventions of ``scipy.stats.bootstrap``. The jackknife deletes one resampling unit
    (row or cluster); above 2,000 units it deletes one of 2,000 random groups of units
    (grouped jackknife, Efron & Narasimhan 2020). The percentile interval uses the
    :math:`\alpha/2` and :math:`1-\alpha/2` quantiles. Replicates where the statistic is
    not finite are dropped (``n_boot`` reports how many were kept).

    Parameters
    ----------
    episodes : DataFrame or array
        One row per resampling unit: an episode table (``iop.episodes``) or any table or
        array of one row per unit. The statistic is generic, so no instrument rule applies:
        pass the rows it should see.
    statistic : callable
        See above.
    n_boot : int
        Number of bootstrap replicates (>= 100; 2,000+ for BCa).
    method : {"bca", "percentile"}
    seed : int, numpy Generator or None
        Seed for reproducible intervals.
    cluster : str or array-like, optional
        Column (or labels) of clusters resampled whole, e.g. ``"site"``.
    by : str, list of str or array-like, optional
        Grouping; the bootstrap runs separately within each group.
    ci_level : float
        Confidence level.
    progress : bool, optional
        Show a tqdm progress bar (default: only for long runs).

    Returns
    -------
    TableResult
        Per group and statistic: ``statistic`` (name), ``estimate``, ``se`` (SD of
        replicates), ``bias`` (mean of replicates − estimate), ``ci_low``, ``ci_high``,
        ``ci_level``, ``method``, ``n_boot``, ``n_used`` (+ ``n_clusters``), and for BCa
        ``z0`` and ``acceleration``.

    References
    ----------
    .. [1] Efron B (1987). Better bootstrap confidence intervals. J Am Stat Assoc 82:171–185.
    .. [2] Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap. Chapman & Hall.
    .. [3] Davison AC, Hinkley DV (1997). Bootstrap Methods and their Application. CUP.
    .. [4] Efron B, Narasimhan B (2020). The automatic construction of bootstrap confidence
       intervals. J Comput Graph Stat 29:608–619.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import iop_outcomes as iop
    >>> ep = pd.DataFrame({"change": np.arange(-10.0, 10.0)})
    >>> res = iop.bootstrap_ci(ep, lambda d: d["change"].mean(), n_boot=1000, seed=1)
    >>> row = res.to_frame().iloc[0]
    >>> row["method"], float(row["estimate"]), bool(row["ci_low"] < -0.5 < row["ci_high"])
    ('bca', -0.5, True)

    The vectorized form: the same statistic as weighted sums over a ``(b, n)`` array of
    bootstrap counts, cluster-resampled by site (use the table passed in, ``d``, not the
    outer one: with ``by`` it is the group's rows):

    >>> ep["site"] = ["A", "B", "C", "D"] * 5
    >>> def mean_change(d, weights):
    ...     return weights @ d["change"].to_numpy() / weights.sum(axis=1)
    >>> res = iop.bootstrap_ci(ep, mean_change, cluster="site", n_boot=1000, seed=1)
    >>> row = res.to_frame().iloc[0]
    >>> row["statistic"], int(row["n_clusters"])
    ('mean_change', 4)
    """
    func = "bootstrap_ci"
    data = episodes
    if not isinstance(data, (pd.DataFrame, pd.Series, np.ndarray)):
        try:
            data = np.asarray(data, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"The 'episodes' parameter of iop.{func} must be a DataFrame or an array of "
                "numbers."
            ) from exc
    n_rows = len(data)
    if n_rows < 2:
        raise DataError(f"iop.{func} needs at least 2 rows; got {n_rows}.")
    try:
        params = inspect.signature(statistic).parameters
    except (TypeError, ValueError):
        params = {}
    weighted = "weights" in params
    gcodes, keys, ccodes = _codes(data, by, cluster, func)
    rng = make_rng(seed)
    n_groups = int(gcodes.max()) + 1
    show = (
        (n_boot * n_rows >= PROGRESS_WORK // (1 if weighted else 50))
        if progress is None
        else bool(progress)
    )
    rows: list[dict] = []
    notes: list[str] = []
    with progress_bar(n_boot * n_groups, show, f"{func}") as bar:
        for gi in range(n_groups):
            ridx = np.flatnonzero(gcodes == gi)
            sub = _take(data, ridx)
            if isinstance(sub, (pd.DataFrame, pd.Series)):
                sub = sub.reset_index(drop=True)
            n_units, cinv, unit_rows = _units(ccodes, ridx)
            res = _generic_bootstrap(
                sub, statistic, weighted, n_units, cinv, unit_rows, n_boot, rng, bar, func
            )
            key_row = {} if keys is None else keys.iloc[gi].to_dict()
            _group_rows(
                res,
                key_row,
                ridx.size,
                n_units,
                ccodes is not None,
                (method, ci_level, n_boot),
                rows,
                notes,
            )
    unit = (
        f"clusters ({cluster if isinstance(cluster, str) else 'cluster'})"
        if ccodes is not None
        else "rows"
    )
    desc = (
        f"{'BCa' if method == 'bca' else 'percentile'} bootstrap (Efron 1987), {n_boot} "
        f"replicates resampling {unit}{' within each group' if keys is not None else ''}, "
        f"seed={seed!r}"
    )
    return TableResult(
        table=pd.DataFrame(rows),
        title="Bootstrap confidence intervals",
        method=desc,
        params={"n_boot": n_boot, "ci_level": ci_level},
        notes=tuple(dict.fromkeys(notes)),
    )


def _codes(data, by, cluster, func: str):
    """Group codes (with the group keys) and cluster codes of every row."""
    by_frame, by_cols = _labels(data, by, "group", func)
    cl_frame, _ = _labels(data, cluster, "cluster", func)
    if by_frame is not None:
        g = by_frame.groupby(by_cols, dropna=False, sort=True, observed=True)
        gcodes = g.ngroup().to_numpy()
        keys = g.size().index.to_frame(index=False)
    else:
        gcodes = np.zeros(len(data), dtype=np.int64)
        keys = None
    ccodes = None
    if cl_frame is not None:
        lab = cl_frame.iloc[:, 0]
        if lab.isna().any():
            raise DataError(
                f"The cluster labels passed to iop.{func} have {int(lab.isna().sum())} missing "
                "value(s). Fill them or drop those rows."
            )
        ccodes = pd.factorize(lab, sort=True)[0]
    return gcodes, keys, ccodes


def _units(ccodes, ridx: np.ndarray):
    """Resampling units of one group: its rows, or its clusters (lists of row positions)."""
    if ccodes is None:
        return ridx.size, None, None
    cu, cinv = np.unique(ccodes[ridx], return_inverse=True)
    n_units = cu.size
    order = np.argsort(cinv, kind="stable")
    starts = np.r_[0, np.cumsum(np.bincount(cinv, minlength=n_units))]
    unit_rows = [order[starts[k] : starts[k + 1]] for k in range(n_units)]
    return n_units, cinv, unit_rows


def _group_rows(res, key_row, n_used, n_units, clustered, opts, rows, notes) -> None:
    """One result row per statistic of a group (interval, counts, BCa constants) and notes."""
    method, level, n_boot = opts
    names, theta, boot, jack, jack_w = res
    for k, name in enumerate(names):
        iv = bootstrap_interval(theta[k], boot[:, k], jack[:, k], jack_w, level, method)
        row = dict(key_row)
        row.update(
            statistic=name,
            estimate=theta[k],
            se=iv["se"],
            bias=iv["bias"],
            ci_low=iv["ci_low"],
            ci_high=iv["ci_high"],
            ci_level=level,
            method=method,
            n_boot=iv["n_boot"],
            n_used=int(n_used),
        )
        if clustered:
            row["n_clusters"] = int(n_units)
            if n_units < MIN_CLUSTERS:
                notes.append(few_clusters_note(int(n_units)))
        if method == "bca":
            row["z0"] = iv["z0"]
            row["acceleration"] = iv["acceleration"]
        rows.append(row)
        if iv["n_boot"] < n_boot:
            notes.append(
                f"{name}: {n_boot - iv['n_boot']} replicate(s) gave a non-finite "
                "value and were dropped."
            )
    if n_units > JACK_MAX and method == "bca":
        notes.append(
            f"Acceleration from a grouped jackknife ({JACK_MAX} groups of {n_units:,} units)."
        )


def _generic_bootstrap(sub, statistic, weighted, n_units, cinv, unit_rows, n_boot, rng, bar, func):
    """Replicates and jackknife values of a user statistic on one group."""
    n = len(sub)
    if weighted:
        theta_raw = np.asarray(statistic(sub, weights=np.ones((1, n))), dtype=float)
        theta = theta_raw.reshape(1, -1)[0]
        names = ["statistic"] if theta.size == 1 else [f"statistic_{i}" for i in range(theta.size)]
    else:
        names, theta = _names_values(statistic(sub), func)
    fname = getattr(statistic, "__name__", "")
    if names == ["statistic"] and fname.isidentifier() and fname != "<lambda>":
        names = [fname]
    k = theta.size
    if n_units < 2:  # nothing to resample
        return names, theta, np.full((n_boot, k), np.nan), np.full((1, k), np.nan), np.ones(1)
    boot = np.empty((n_boot, k))

    def unit_weights(counts):  # (b, n_units) -> (b, n) row weights
        return counts if cinv is None else counts[:, cinv]

    per_rep = n_units
    chunk = max(1, min(n_boot, CHUNK_ELEMS // max(per_rep, n)))
    mult = np.ones(n_units, dtype=np.int64)
    unit_of = np.arange(n_units, dtype=np.int64)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        counts = resample_counts(mult, b, rng, unit_of)  # (b, n_units)
        if weighted:
            vals = np.asarray(statistic(sub, weights=unit_weights(counts).astype(float)), float)
            boot[start : start + b] = vals.reshape(b, k)
        else:
            if unit_rows is None:
                idx_all = indices_from_counts(counts)
                for i in range(b):
                    boot[start + i] = _as_values(statistic(_take(sub, idx_all[i])))
            else:
                for i in range(b):
                    idx = np.concatenate(
                        [unit_rows[u] for u in np.repeat(np.arange(n_units), counts[i])]
                    )
                    boot[start + i] = _as_values(statistic(_take(sub, idx)))
        if bar is not None:
            bar.update(b)

    # jackknife over units (grouped above JACK_MAX units)
    if n_units > JACK_MAX:
        grp = rng.permutation(np.arange(n_units) % JACK_MAX)
        n_del = JACK_MAX
    else:
        grp = np.arange(n_units)
        n_del = n_units
    jack = np.empty((n_del, k))
    if weighted:
        jchunk = max(1, CHUNK_ELEMS // max(n, 1))
        for start in range(0, n_del, jchunk):
            e = min(n_del, start + jchunk)
            keep = (grp[None, :] != np.arange(start, e)[:, None]).astype(float)  # (m, units)
            w = unit_weights(keep)
            jack[start:e] = np.asarray(statistic(sub, weights=w), float).reshape(e - start, k)
    else:
        row_grp = grp if cinv is None else grp[cinv]
        for i in range(n_del):
            jack[i] = _as_values(statistic(_take(sub, np.flatnonzero(row_grp != i))))
    return names, theta, boot, jack, np.ones(n_del)

"""Tests for iop_outcomes._sensitivity.mi: the chained-equation imputation against its
reference implementation.

The reference below is the straightforward form of van Buuren (2018) Algorithm 3.1 /
``mice.impute.norm`` that the module used before the Gram-matrix updates (it rebuilt the design
matrix ``[1, predictors, other columns]`` and formed X'X and the residuals from the rows for
every draw). Both make the same random draws in the same order, so with the same seed the
imputed values agree up to floating-point rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes._sensitivity import mi

REF = Path(__file__).parent / "reference" / "sensitivity"


def _ref_norm_draw(y, X, rng, ridge=1e-5):
    n, q = X.shape
    xtx = X.T @ X
    xtx = xtx + np.diag(np.diag(xtx)) * ridge
    beta = np.linalg.solve(xtx, X.T @ y)
    resid = y - X @ beta
    sigma = np.sqrt(float(resid @ resid) / rng.chisquare(max(n - q, 1)))
    v = np.linalg.inv(xtx)
    chol = np.linalg.cholesky((v + v.T) / 2)
    return beta + sigma * (chol @ rng.standard_normal(q)), sigma


def _ref_mice_impute(Y, predictors, n_iter, rng):
    Y = Y.copy()
    miss = np.isnan(Y)
    n, p = Y.shape
    ones = np.ones((n, 1))
    todo = [j for j in range(p) if miss[:, j].any()]
    for j in todo:
        X = np.hstack([ones, predictors, Y[:, :j]])
        obs, mis = ~miss[:, j], miss[:, j]
        beta, sigma = _ref_norm_draw(Y[obs, j], X[obs], rng)
        Y[mis, j] = X[mis] @ beta + sigma * rng.standard_normal(int(mis.sum()))
    if bool((np.diff(miss.astype(np.int8), axis=1) >= 0).all()):
        return Y
    for _ in range(n_iter):
        for j in todo:
            X = np.hstack([ones, predictors, np.delete(Y, j, axis=1)])
            obs, mis = ~miss[:, j], miss[:, j]
            beta, sigma = _ref_norm_draw(Y[obs, j], X[obs], rng)
            Y[mis, j] = X[mis] @ beta + sigma * rng.standard_normal(int(mis.sum()))
    return Y


def _scores(n, p, seed, *, monotone=False, n_pred=2):
    """Correlated weekly scores (AR(1)-like, 0–27 scale) with dropout or intermittent holes."""
    rng = np.random.default_rng(seed)
    P = rng.standard_normal((n, n_pred))
    Y = np.empty((n, p))
    Y[:, 0] = 16 + 4 * rng.standard_normal(n) + (P[:, 0] if n_pred else 0)
    for j in range(1, p):
        Y[:, j] = 2 + 0.8 * Y[:, j - 1] + 2.5 * rng.standard_normal(n)
    if monotone:
        drop = rng.integers(1, p + 2, n)  # first missing column; > p - 1 means completer
        Y[np.arange(p)[None, :] >= drop[:, None]] = np.nan
    else:
        holes = rng.random((n, p)) < np.linspace(0.0, 0.4, p)
        Y[holes] = np.nan
    return Y, P


@pytest.mark.parametrize(
    "n,p,n_pred,monotone,n_iter",
    [
        (300, 6, 2, False, 10),  # intermittent holes: the chained sweeps run
        (300, 6, 2, True, 10),  # dropout: the monotone pass alone
        (200, 4, 0, False, 5),  # no predictors: [1, Y] only
        (250, 5, 3, False, 0),  # no sweeps asked for
        (40, 3, 1, False, 3),  # small: n - q is small in the draws
    ],
)
def test_mice_impute_matches_reference(n, p, n_pred, monotone, n_iter):
    Y, P = _scores(n, p, seed=n + p, monotone=monotone, n_pred=n_pred)
    assert np.isnan(Y).any()
    r1, r2 = np.random.default_rng(7), np.random.default_rng(7)
    ours = mi._mice_impute(Y, P, n_iter, r1)
    ref = _ref_mice_impute(Y, P, n_iter, r2)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0)
    # observed values untouched, every hole filled
    obs = ~np.isnan(Y)
    assert (ours[obs] == Y[obs]).all()
    assert np.isfinite(ours).all()
    # the same random stream: the same calls in the same order with the same sizes
    assert r1.bit_generator.state == r2.bit_generator.state


def test_mice_impute_shared_start_is_not_modified():
    # run_mi sets up once and imputes m times from the same start
    Y, P = _scores(200, 5, seed=3)
    start = mi._mice_start(Y, P)
    M0, grams0 = start.M.copy(), start.grams.copy()
    a = mi._mice_impute(Y, P, 4, np.random.default_rng(1), start)
    b = mi._mice_impute(Y, P, 4, np.random.default_rng(1), start)
    assert (start.M == M0).all() and (start.grams == grams0).all()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, mi._mice_impute(Y, P, 4, np.random.default_rng(1)), rtol=0)


def test_gram_draw_ssr_is_the_residual_sum_of_squares():
    # the draw reads SSR from the Gram blocks; with sigma* = sqrt(SSR / chi2) and the same
    # chi2 draw, sigma* from the Gram form equals the one from the residuals
    Y, P = _scores(500, 4, seed=11, monotone=True)
    ok = ~np.isnan(Y).any(axis=1)
    M = np.column_stack([np.ones(ok.sum()), P[ok], Y[ok]])
    a = M.shape[1] - 1
    keep = np.arange(a)
    _, sigma = mi._gram_draw(M.T @ M, keep, a, ok.sum(), np.random.default_rng(5))
    _, sigma_ref = _ref_norm_draw(M[:, a], M[:, keep], np.random.default_rng(5))
    assert sigma == pytest.approx(sigma_ref, rel=1e-12)


@pytest.fixture(scope="module")
def weekly_data():
    return pd.read_csv(REF / "sens_assessments.csv")


@pytest.mark.parametrize("holes", [False, True])
def test_pooled_results_match_reference_implementation(weekly_data, monkeypatch, holes):
    # the whole MI method on the weekly fixture (dropout; with holes also intermittent missed
    # weeks, so the sweeps run), once with the module's imputation and once with the
    # reference's: pooled estimates, SEs and df agree to rounding
    df = weekly_data
    if holes:
        df = df[~((df.week == 2) & df.episode_id.str[-1].isin(list("0369")))]
    kw = dict(methods=("mi",), group="format", n_imputations=5, n_iterations=4, seed=21)
    calls = []
    draw = mi._gram_draw
    monkeypatch.setattr(mi, "_gram_draw", lambda *a, **k: calls.append(a[2]) or draw(*a, **k))
    ours = iop.missing_data_sensitivity(df, **kw)
    n_cols = len(set(calls))  # columns with missing values, drawn once each per pass
    assert len(calls) == 5 * n_cols * (1 + (4 if holes else 0))
    monkeypatch.setattr(
        mi,
        "_mice_impute",
        lambda Y, P, n_iter, rng, start=None: _ref_mice_impute(Y, P, n_iter, rng),
    )
    ref = iop.missing_data_sensitivity(df, **kw)
    cols = ["estimate", "se", "ci_low", "ci_high", "df", "fmi"]
    np.testing.assert_allclose(ours.table[cols], ref.table[cols], rtol=1e-9)
    np.testing.assert_allclose(
        ours.imputations[["estimate", "variance"]],
        ref.imputations[["estimate", "variance"]],
        rtol=1e-9,
    )

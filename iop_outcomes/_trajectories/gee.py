"""Population-averaged trajectory model: GEE (Liang & Zeger 1986) by statsmodels."""

from __future__ import annotations

import warnings

import numpy as np

from ..exceptions import DataError

__all__ = ["fit_gee"]


def fit_gee(df, y, X, corr):
    from statsmodels.genmod import cov_struct as cs
    from statsmodels.genmod.generalized_estimating_equations import GEE
    from statsmodels.tools.sm_exceptions import ConvergenceWarning as SMConvergenceWarning

    history = []
    chain = [(corr, 60), (corr, 500)]
    if corr != "independence":
        chain.append(("independence", 60))
    for c, maxiter in chain:
        if c == "exchangeable":
            struct = cs.Exchangeable()
        elif c == "ar1":
            struct = cs.Autoregressive(grid=True)
        else:
            struct = cs.Independence()
        # rows are sorted by episode and week: AR(1) is over the order of observed scores
        model = GEE(y, X, groups=df["ep"].to_numpy(), cov_struct=struct)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = model.fit(maxiter=maxiter)
        bad = [
            str(w.message).split("\n")[0]
            for w in caught
            if issubclass(w.category, SMConvergenceWarning)
        ]
        ok = not bad and bool(np.all(np.isfinite(res.params)))
        history.append((c, f"maxiter={maxiter}", ok, "; ".join(bad)))
        if ok:
            return res, c, history
    raise DataError(
        "GEE did not converge: " + " | ".join(f"{c}/{o}: {m}" for c, o, _, m in history)
    )

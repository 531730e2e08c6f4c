"""iop_outcomes._dist against scipy.stats, bit for bit (scipy.stats is the reference here)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from iop_outcomes import _dist

INF, NAN = np.inf, np.nan
X = np.array([-INF, -40.0, -5.0, -1.96, -1.0, -1e-300, -0.0, 0.0, 1e-300, 0.3, 1.0, 1.96, 2.5,
              7.0, 40.0, 1e6, INF, NAN])  # fmt: skip
Q = np.array([-0.1, 0.0, 1e-300, 1e-12, 0.001, 0.025, 0.05, 0.3, 0.5, 0.7, 0.95, 0.975, 0.999,
              1 - 1e-12, 1.0, 1.1, NAN])  # fmt: skip
DF = np.array([-1.0, 0.0, 1e-3, 0.5, 1.0, 1.5, 2.0, 3.0, 9.0, 29.7, 100.0, 1e7, INF, NAN])


def _same(a, b):
    """Bit-identical, NaN payloads aside, and the same type (NumPy scalar vs array)."""
    assert type(a) is type(b), (type(a), type(b))
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b))
    assert (a[~nan].view(np.int64) == b[~nan].view(np.int64)).all(), (a, b)


def _grid(*axes):
    return np.meshgrid(*axes, indexing="ij")


@pytest.mark.parametrize("method", ["cdf", "sf", "ppf"])
def test_norm(method):
    x = Q if method == "ppf" else X
    _same(getattr(_dist.norm, method)(x), getattr(stats.norm, method)(x))
    for v in x:  # scalars give NumPy scalars
        _same(getattr(_dist.norm, method)(float(v)), getattr(stats.norm, method)(float(v)))


@pytest.mark.parametrize("name", ["t", "chi2"])
@pytest.mark.parametrize("method", ["cdf", "sf", "ppf"])
def test_one_shape(name, method):
    x, df = _grid(Q if method == "ppf" else X, DF)
    mine, ref = getattr(getattr(_dist, name), method), getattr(getattr(stats, name), method)
    _same(mine(x, df), ref(x, df))
    _same(mine(x[:, 3], 4), ref(x[:, 3], 4))  # broadcasting a scalar parameter
    _same(mine(0.975, df[5:8]), ref(0.975, df[5:8]))
    for v, d in [(0.975, 10), (1.96, INF), (0.5, 3), (-2.0, 1), (3.0, 0), (0.2, NAN), (1, 2)]:
        _same(mine(v, d), ref(v, d))


@pytest.mark.parametrize("method", ["cdf", "sf", "ppf"])
def test_f(method):
    x, d1, d2 = _grid(Q if method == "ppf" else X, DF[::2], DF[1::2])
    mine, ref = getattr(_dist.f, method), getattr(stats.f, method)
    _same(mine(x, d1, d2), ref(x, d1, d2))
    _same(mine(3.2, 2, 40), ref(3.2, 2, 40))


def test_poisson():
    k, mu = _grid(np.array([-INF, -1.0, 0.0, 0.5, 1.0, 3.0, 17.0, 40.0, INF, NAN]),
                  np.array([-1.0, 0.0, 0.3, 1.0, 10.0, 123.4, NAN]))  # fmt: skip
    _same(_dist.poisson.cdf(k, mu), stats.poisson.cdf(k, mu))
    q, mu = _grid(Q, np.array([-1.0, 0.0, 0.3, 1.0, 10.0, 123.4, 5000.0, NAN]))
    _same(_dist.poisson.ppf(q, mu), stats.poisson.ppf(q, mu))
    _same(_dist.poisson.ppf(0.975, 10.0), stats.poisson.ppf(0.975, 10.0))


def test_binom():
    k, n, p = _grid(np.array([-INF, -1.0, 0.0, 0.5, 1.0, 3.0, 17.0, 40.0, INF, NAN]),
                    np.array([-1.0, 0.0, 1.0, 2.5, 5.0, 20.0, 200.0, NAN]),
                    np.array([-0.1, 0.0, 0.1, 0.5, 0.93, 1.0, NAN]))  # fmt: skip
    _same(_dist.binom.cdf(k, n, p), stats.binom.cdf(k, n, p))
    q, n, p = _grid(Q, np.array([-1.0, 0.0, 1.0, 2.5, 5.0, 20.0, 200.0, NAN]),
                    np.array([-0.1, 0.0, 0.1, 0.5, 0.93, 1.0, NAN]))  # fmt: skip
    _same(_dist.binom.ppf(q, n, p), stats.binom.ppf(q, n, p))
    _same(_dist.binom.ppf(0.975, 20.0, 0.5), stats.binom.ppf(0.975, 20.0, 0.5))


def test_pearson_chi2():
    rng = np.random.default_rng(12)
    tables = [np.array([[10, 20], [20, 10]]), np.array([[3, 0], [5, 9]]), np.array([[4, 5, 6]]),
              np.array([[1.5, 2.25], [7.0, 0.5]])]  # fmt: skip
    for r, c in [(2, 2), (2, 3), (2, 9), (3, 2), (7, 2), (4, 5), (2, 17)]:
        tables += [rng.integers(1, 400, size=(r, c)) for _ in range(30)]
        tables += [rng.integers(1, 40, size=(r, c)).astype(float) for _ in range(10)]
    for tab in tables:
        mine = _dist.pearson_chi2(tab)
        ref = stats.chi2_contingency(tab, correction=False)
        for a, b in zip(mine, ref, strict=True):
            if isinstance(a, (float, int)):
                assert a == b and type(a) is type(b)
            else:
                _same(a, b)
    for bad in ([[1, -1], [2, 3]], np.zeros((0, 2)), [[0, 0], [1, 2]]):
        with pytest.raises(ValueError):
            _dist.pearson_chi2(bad)


def _imports_scipy_stats(code: str) -> bool:
    code = f"import sys, warnings; warnings.simplefilter('ignore'); {code}; "
    code += "print('scipy.stats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1] == "True"


def test_report_modules_do_not_import_scipy_stats():
    """Importing the report and every analysis it runs leaves scipy.stats (~1 s) unimported."""
    mods = ["_dist", "_stats", "_report.build", "_change", "_clinsig", "_compare", "_effectsize",
            "_funnel", "_monitor", "_over_time", "_retention", "_sensitivity", "_trajectories"]  # fmt: skip
    assert not _imports_scipy_stats("; ".join(f"import iop_outcomes.{m}" for m in mods))


@pytest.mark.slow
def test_report_does_not_import_scipy_stats(tmp_path):
    """The whole report, every section on (about 10 s)."""
    code = (
        "import iop_outcomes as iop; "
        "d = iop.synth.generate(n_episodes=150, seed=3).data; "
        f"iop.report(d, out={str(tmp_path)!r})"
    )
    assert not _imports_scipy_stats(code)


def test_frozen():
    for df in (3.0, 29.5, INF):
        for m in ("cdf", "sf", "ppf"):
            v = 0.975 if m == "ppf" else 1.7
            _same(getattr(_dist.t(df), m)(v), getattr(stats.t(df), m)(v))


@pytest.mark.filterwarnings("ignore:Precision loss occurred")  # scipy, on constant samples
def test_welch_t():
    rng = np.random.default_rng(7)
    pairs = [([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0]), ([5.0, 5.0], [5.0, 5.0, 5.0]),
             ([1.0, 1.0, 1.0], [2.0, 2.0]), ([3, 9, 4], [1, 2])]  # fmt: skip
    for n1, n2 in [(2, 2), (3, 50), (40, 7), (300, 900), (17, 17)]:
        pairs += [(rng.normal(10, 3, n1), rng.normal(9, 5, n2)) for _ in range(10)]
        pairs += [(rng.integers(0, 27, n1), rng.integers(0, 27, n2)) for _ in range(5)]
    for a, b in pairs:
        t_, p, df = _dist.welch_t(a, b)
        ref = stats.ttest_ind(np.asarray(a, float), np.asarray(b, float), equal_var=False)
        _same(t_, ref.statistic)
        _same(p, ref.pvalue)
        _same(df, ref.df)

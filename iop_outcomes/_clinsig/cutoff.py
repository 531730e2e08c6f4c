"""The clinical cut-off (Jacobson & Truax 1991 a, b, c; Hageman & Arrindell 1999 true-score)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, DataError


def side_rule(value: float, better_is: str, inclusive: bool) -> str:
    """The cut-off rule in words, e.g. ``'clinical: score >= 10; functional: score < 10'``."""
    if better_is == "lower":
        return (
            f"clinical: score >= {value:.4g}; functional: score < {value:.4g}"
            if inclusive
            else f"clinical: score > {value:.4g}; functional: score < {value:.4g}"
        )
    return (
        f"clinical: score <= {value:.4g}; functional: score > {value:.4g}"
        if inclusive
        else f"clinical: score < {value:.4g}; functional: score > {value:.4g}"
    )


def sides(x: pd.Series, y: pd.Series, cut: float, better_is: str, inclusive: bool):
    """(baseline on the clinical side, endpoint on the functional side) of the cut-off.

    Strict (``inclusive=False``): a score exactly at the cut-off is on neither side.
    Inclusive: a score at the cut-off is clinical (a caseness threshold "10 or more").
    """
    if better_is == "lower":
        return (x >= cut if inclusive else x > cut), y < cut
    return (x <= cut if inclusive else x < cut), y > cut


def _user_cutoff(cutoff, better_is, inclusive):
    """A cut-off in points given by the user: inclusive (a caseness threshold) unless told."""
    value = float(cutoff)
    if not np.isfinite(value):
        raise ConfigError(
            "The 'cutoff' parameter of clinical_significance must be 'a', 'b', 'c', 'none', "
            f"a finite number of points, or None (best available). Got {cutoff!r} instead."
        )
    inc = True if inclusive is None else bool(inclusive)
    rule = side_rule(value, better_is, inc)
    how = (
        "a caseness threshold: a score at the cut-off counts as clinical"
        if inc
        else "strict: a score exactly at the cut-off is on neither side"
    )
    default = " (default for a user-supplied cut-off)" if inclusive is None else ""
    return (
        value,
        inc,
        {
            "cutoff": "user-supplied",
            "cutoff_value": value,
            "cutoff_inclusive": inc,
            "cutoff_rule": rule,
        },
        [f"Cut-off {value:g} points (user-supplied), {how}{default}: {rule}."],
    )


def _true_score_cutoff(cutoff, ha_se, sign, cm, csd, fm, fsd):
    """Hageman & Arrindell (1999): a cut-off between true-score distributions.

    Each population's SD becomes SD sqrt(r), its reliability derived from one standard error of
    measurement. Returns (value, formula in words, params).
    """
    ha_params: dict[str, float] = {}
    sc = sf = None
    if cutoff in ("a", "c"):
        r_c = 1.0 - ha_se**2 / csd**2
        if not r_c > 0:
            raise DataError(
                "clinical_significance: the clinical SD is not larger than the standard "
                "error of measurement; no true-score cut-off (Hageman-Arrindell)."
            )
        sc = csd * np.sqrt(r_c)
        ha_params["reliability_clinical"] = float(r_c)
    if cutoff in ("b", "c"):
        r_f = 1.0 - ha_se**2 / fsd**2
        if not r_f > 0:
            raise DataError(
                "clinical_significance: the functional SD is not larger than the standard "
                "error of measurement; no true-score cut-off (Hageman-Arrindell)."
            )
        sf = fsd * np.sqrt(r_f)
        ha_params["reliability_functional"] = float(r_f)
    if cutoff == "a":
        value = cm + sign * 2 * sc
        formula = f"a_true = M_clin {'-' if sign < 0 else '+'} 2 SD_clin sqrt(r_clin)"
    elif cutoff == "b":
        value = fm - sign * 2 * sf
        formula = f"b_true = M_func {'+' if sign < 0 else '-'} 2 SD_func sqrt(r_func)"
    else:
        value = (sc * fm + sf * cm) / (sc + sf)
        formula = (
            "c_true = (SD_clin sqrt(r_clin) M_func + SD_func sqrt(r_func) M_clin) / "
            "(SD_clin sqrt(r_clin) + SD_func sqrt(r_func))"
        )
    formula += ", r = 1 - SEm^2 / SD^2 (Hageman & Arrindell 1999)"
    return value, formula, ha_params


def resolve_cutoff(cutoff, inst, better_is, xu, cm, csd, fm, fsd, inclusive=None, ha_se=None):
    """Resolve the clinical cut-off. Returns (value or None, inclusive, params, notes).

    ``inclusive=None`` chooses the documented default: a user-supplied number is a caseness
    threshold (a score at the cut-off is clinical); computed cut-offs a, b, c are strict.
    ``cutoff="required"``: as ``None``, but falls back to cut-off a from the sample's baselines
    when no norms are known (clinicalsignificance's default for its statistical and combined
    approaches). ``ha_se``: the standard error of measurement for Hageman & Arrindell's (1999)
    true-score cut-offs.
    """
    notes: list[str] = []
    required = isinstance(cutoff, str) and cutoff == "required"
    if required:
        cutoff = None
    if isinstance(cutoff, str) and cutoff.lower() == "none":
        return None, None, {"cutoff": None}, notes
    if isinstance(cutoff, (int, float, np.integer, np.floating)) and not isinstance(
        cutoff, (bool, np.bool_)
    ):
        return _user_cutoff(cutoff, better_is, inclusive)
    if cutoff not in (None, "a", "b", "c"):
        raise ConfigError(
            "The 'cutoff' parameter of clinical_significance must be 'a', 'b', 'c', 'none', a "
            f"number of points, or None (best available). Got {cutoff!r} instead."
        )
    c_src = f_src = "user-supplied"
    if cm is None and inst is not None and inst.clinical_mean is not None:
        cm, c_src = inst.clinical_mean, inst.clinical_source
    if csd is None and inst is not None and inst.clinical_sd is not None:
        csd = inst.clinical_sd
    if fm is None and inst is not None and inst.norm_mean is not None:
        fm, f_src = inst.norm_mean, inst.norm_source
    if fsd is None and inst is not None and inst.norm_sd is not None:
        fsd = inst.norm_sd
    have_c = cm is not None and csd is not None
    have_f = fm is not None and fsd is not None
    if cutoff is None:
        if have_c and have_f:
            cutoff = "c"
        elif have_c or required:
            cutoff = "a"
        else:
            return None, None, {"cutoff": None}, notes
    if cutoff in ("a", "c") and not have_c:
        cm, csd = float(xu.mean()), float(xu.std(ddof=1))
        c_src = "the sample's baselines (no clinical norms given)"
    if cutoff in ("b", "c") and not have_f:
        raise ConfigError(
            f"clinical_significance: cut-off {cutoff!r} needs functional (general-population) "
            "norms: pass functional_mean= and functional_sd=, or use an instrument that has them."
        )
    sign = -1.0 if better_is == "lower" else 1.0  # towards the functional side
    ha_params: dict[str, float] = {}
    if ha_se is not None:
        value, formula, ha_params = _true_score_cutoff(cutoff, ha_se, sign, cm, csd, fm, fsd)
    elif cutoff == "a":
        value = cm + sign * 2 * csd
        formula = "a = M_clin - 2 SD_clin" if sign < 0 else "a = M_clin + 2 SD_clin"
    elif cutoff == "b":
        value = fm - sign * 2 * fsd
        formula = "b = M_func + 2 SD_func" if sign < 0 else "b = M_func - 2 SD_func"
    else:
        value = (csd * fm + fsd * cm) / (csd + fsd)
        formula = "c = (SD_clin M_func + SD_func M_clin) / (SD_clin + SD_func)"
    inc = False if inclusive is None else bool(inclusive)
    params = {
        "cutoff": cutoff,
        "cutoff_value": float(value),
        "cutoff_inclusive": inc,
        "cutoff_rule": side_rule(float(value), better_is, inc),
    }
    if cutoff in ("a", "c"):
        params.update(clinical_mean=float(cm), clinical_sd=float(csd))
        notes.append(f"Clinical norms M = {cm:g}, SD = {csd:g} ({c_src}).")
    if cutoff in ("b", "c"):
        params.update(functional_mean=float(fm), functional_sd=float(fsd))
        notes.append(f"Functional norms M = {fm:g}, SD = {fsd:g} ({f_src}).")
    params.update(ha_params)
    notes.append(
        f"Cut-off {cutoff}: {formula} = {value:.4g} points; "
        + (
            "a score exactly at the cut-off is on neither side (strict, as the R package "
            "clinicalsignificance)."
            if not inc
            else "a score at the cut-off counts as clinical (cutoff_inclusive=True)."
        )
    )
    return float(value), inc, params, notes

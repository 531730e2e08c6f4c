"""The headline numbers as published (``headline.json``) and the comparison with a previous
report's.

Every report writes ``headline.json``: for each headline rate (response, remission, recovery
of the primary instrument, overall) the numerator and denominator **as published** — a count
the report hides is written as it is shown (``"<11"``, ``"*"``), never as its value — with the
settings that define the rates (instrument, definitions, episode rules, suppression, the
period's episode date). ``report(compare_to="reports/2025-Q3/")`` reads the previous report's
file and puts beside each current rate the previous one and the change in percentage points
with its interval (:func:`iop_outcomes._stats.newcombe_diff_ci`, Newcombe 1998 method 10,
the two periods' episodes taken as independent samples). No difference is computed where
either period's count was hidden, and none at all when the settings differ: the first page
says which setting changed instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError

__all__ = ["HEADLINE_FILE", "read_previous"]

HEADLINE_FILE = "headline.json"
_FORMAT = "iop_outcomes headline"

#: Jacobson–Truax parameters that define "recovered" (the data-derived SD, thresholds and
#: cut-off values differ between periods by nature and are not settings)
_CS_SETTINGS = (
    "method",
    "threshold_source",
    "reliability",
    "cutoff",
    "clinical_mean",
    "clinical_sd",
    "functional_mean",
    "functional_sd",
)

#: what each setting is called on the first page
_SETTING_NAMES = {
    "instrument": "instrument",
    "response": "definition of response",
    "remission": "definition of remission",
    "recovered": "definition of recovery",
    "episode_rules": "episode rules",
    "suppression": "small-cell suppression",
    "period_by": "episode date of the period",
}


def _published(ctx: Any, v: Any) -> int | str:
    """A count as the report shows it: the number, or its hidden form ("<11", "*")."""
    if ctx.shown(v):
        return int(v)
    return str(v)


def headline(ctx: Any) -> dict | None:
    """The headline rates as published, with the settings that define them (JSON-ready)."""
    from .. import instruments as _inst

    inst = ctx.cfg.primary_instrument
    rates_out: list[dict] = []
    settings: dict[str, Any] = {"instrument": inst}
    rates = ctx.facts.get("rates", {}).get(inst)
    if rates is not None:
        measure = rates["measure"].astype(str)
        for key in ("response", "remission"):
            # the measure as the rates table names it ("response (≥50% reduction)"); its name
            # is the setting, so a changed definition (a renamed measure) is not compared
            r = rates[(rates["group"] == "Overall") & measure.str.startswith(key).to_numpy()]
            if len(r):
                r = r.iloc[0]
                rates_out.append(
                    {
                        "measure": key,
                        "numerator": _published(ctx, r["k"]),
                        "denominator": _published(ctx, r["n"]),
                    }
                )
                settings[key] = str(r["measure"])
        if "remission" in settings:
            settings["remission"] += f": endpoint below {_inst.get(inst).remission_below:g}"
    cs = ctx.facts.get("clinsig", {}).get(inst)
    if cs is not None:
        r = cs[cs["outcome"] == "recovered"]
        if len(r):
            r = r.iloc[0]
            rates_out.append(
                {
                    "measure": "recovered",
                    "numerator": _published(ctx, r["count"]),
                    "denominator": _published(ctx, r["n"]),
                }
            )
            params = next(
                (
                    p
                    for title, _m, p, _n in ctx.methods
                    if f"{inst} reliable and clinically significant change" in title
                ),
                {},
            )
            settings["recovered"] = {k: params[k] for k in _CS_SETTINGS if k in params}
    if not rates_out:
        return None
    cfg = ctx.cfg.to_dict()
    settings["episode_rules"] = ctx.cfg.episode_rules
    settings["suppression"] = {
        k: v for k, v in sorted(cfg.items()) if "suppression" in k or k == "threshold"
    }
    settings["period_by"] = ctx.cfg.period_by if ctx.cfg.period else None
    out = {
        "format": _FORMAT,
        "version": 1,
        "period": ctx.cfg.period,
        "period_text": ctx.facts.get("period", ""),
        "instrument": inst,
        "rates": rates_out,
        "settings": settings,
    }
    return json.loads(json.dumps(out, sort_keys=True, default=str))  # as it reads back


def read_previous(folder: str | Path) -> dict:
    """Read the ``headline.json`` of an earlier report's folder (checked, so a wrong folder
    fails before the build).

    Examples
    --------
    >>> read_previous("no/such/folder")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ConfigError: The 'compare_to' folder 'no/such/folder' has no headline.json ...
    """
    p = Path(folder)
    f = p / HEADLINE_FILE if p.is_dir() or not p.suffix else p
    if not f.is_file():
        raise ConfigError(
            f"The 'compare_to' folder {str(p)!r} has no {HEADLINE_FILE}: give the output folder "
            "of an earlier report run (reports written before this version lack the file: "
            "build that report again)."
        )
    try:
        d = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{str(f)!r} is not a readable {HEADLINE_FILE}: {e}.") from None
    if (
        not isinstance(d, dict)
        or d.get("format") != _FORMAT
        or not isinstance(d.get("rates"), list)
    ):
        raise ConfigError(
            f"{str(f)!r} is not an iop_outcomes {HEADLINE_FILE} (written by a report run). "
            "Give the output folder of an earlier report."
        )
    return d


def _label(prev: dict) -> str:
    if prev.get("period"):
        return f"previous period ({prev['period']})"
    return "previous report"


def differing_settings(current: dict, prev: dict) -> list[str]:
    """Names of the settings that differ between two headline files, for the first page.

    Examples
    --------
    >>> differing_settings({"settings": {"instrument": "PHQ-9", "suppression": {"t": 11}}},
    ...                    {"settings": {"instrument": "PHQ-9", "suppression": {"t": 5}}})
    ['small-cell suppression']
    """
    a, b = current.get("settings", {}), prev.get("settings", {})
    return [_SETTING_NAMES.get(k, k) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def comparisons(current: dict, prev: dict, ci_level: float) -> dict[str, str]:
    """Per headline measure, the sentence that compares it with the previous report.

    ``""`` for a measure the previous report did not publish.
    """
    import numpy as np

    from .._stats import newcombe_diff_ci

    label = _label(prev)
    before = {r.get("measure"): r for r in prev.get("rates", []) if isinstance(r, dict)}
    out: dict[str, str] = {}
    for r in current.get("rates", []):
        m = r["measure"]
        p = before.get(m)
        if p is None:
            continue
        k0, n0, k1, n1 = p.get("numerator"), p.get("denominator"), r["numerator"], r["denominator"]
        ok = [isinstance(v, int) and not isinstance(v, bool) for v in (k0, n0, k1, n1)]
        if not (ok[0] and ok[1]) or not n0:
            shown = next((str(v) for v in (k0, n0) if not isinstance(v, int)), "")
            out[m] = (
                f"{label[0].upper()}{label[1:]}: published as hidden ({shown}), so no change is computed."
            )
            continue
        prev_text = f"{label[0].upper()}{label[1:]}: {100 * k0 / n0:.1f}%"
        if not (ok[2] and ok[3]) or not n1:
            out[m] = prev_text + "; this period's count is hidden, so no change is computed."
            continue
        d, lo, hi = (float(np.asarray(x)) for x in newcombe_diff_ci(k1, n1, k0, n0, ci_level))
        out[m] = (
            f"{prev_text}; change {100 * d:+.1f} percentage points "
            f"({100 * ci_level:g}% CI {100 * lo:+.1f} to {100 * hi:+.1f})."
        )
    return out

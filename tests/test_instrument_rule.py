"""The instrument rule: instrument=None means exactly one instrument; no silent choice."""

import pandas as pd
import pytest

from iop_outcomes import ConfigError, DataError
from iop_outcomes._instrument_rule import select_instrument


def test_instrument_rule():
    t = pd.DataFrame({"instrument": ["PHQ-9", "GAD-7", "PHQ-9", None], "total": [1, 2, 3, 4]})
    with pytest.raises(ConfigError, match=r"2 instruments \('GAD-7', 'PHQ-9'\)"):
        select_instrument(t, None, func="f")
    out, name = select_instrument(t, "phq9", func="f")
    assert name == "PHQ-9" and out["total"].tolist() == [1, 3]
    out, name = select_instrument(t, ["GAD-7", "PHQ-9"], func="f", many=True)
    assert name == ("GAD-7", "PHQ-9") and out["total"].tolist() == [1, 2, 3]
    with pytest.raises(ConfigError, match="must be one instrument name"):
        select_instrument(t, ["GAD-7", "PHQ-9"], func="f")
    with pytest.raises(DataError, match=r"no rows for instrument\(s\) \['PCL-5'\]"):
        select_instrument(t, "PCL-5", func="f")
    one = t[t["instrument"] == "GAD-7"]
    out, name = select_instrument(one, None, func="f")
    assert out is one and name == "GAD-7"
    out, name = select_instrument(pd.DataFrame({"total": [1]}), None, func="f")
    assert name is None
    out, name = select_instrument(pd.DataFrame({"total": [1]}), "gad7", func="f")
    assert name == "GAD-7"


def test_an_unregistered_instrument_is_a_bad_argument():
    t = pd.DataFrame({"instrument": ["PHQ-9"], "total": [12]})
    with pytest.raises(ConfigError, match=r"'PHQ9x'.*not a registered instrument.*'PHQ-9'"):
        select_instrument(t, "PHQ9x", func="compare")
    own = pd.DataFrame({"instrument": ["MyScale"], "total": [3]})  # unregistered but present
    assert select_instrument(own, "MyScale", func="compare")[1] == "MyScale"

"""Instrument registry and definitions (numbers checked against the cited manuals)."""

import pytest

import iop_outcomes as iop
from iop_outcomes.exceptions import InstrumentError


@pytest.mark.parametrize(
    "spelling",
    ["PHQ-9", "phq9", "PHQ 9", "phq_9", "Phq-9", "44261-6", "Patient Health Questionnaire-9"],
)
def test_common_spellings_resolve(spelling):
    assert iop.instruments.get(spelling).name == "PHQ-9"


def test_phq9_definition_matches_kroenke_2001():
    phq = iop.instruments.get("PHQ-9")
    assert (phq.n_items, phq.item_min, phq.item_max, phq.total_min, phq.total_max) == (
        9,
        0,
        3,
        0,
        27,
    )
    # Kroenke, Spitzer & Williams 2001: 5, 10, 15, 20 = mild, moderate, moderately severe, severe
    expected = {
        0: "minimal",
        4: "minimal",
        5: "mild",
        9: "mild",
        10: "moderate",
        14: "moderate",
        15: "moderately severe",
        19: "moderately severe",
        20: "severe",
        27: "severe",
    }
    assert {t: phq.band(t) for t in expected} == expected
    assert phq.band(28) is None
    assert phq.safety_item == 9 and phq.caseness_cutoff == 10 and phq.remission_below == 5
    assert phq.reliable_change == 6 and phq.mid == 5


def test_gad7_definition_matches_spitzer_2006():
    gad = iop.instruments.get("gad7")
    assert gad.total_max == 21
    expected = {
        4: "minimal",
        5: "mild",
        9: "mild",
        10: "moderate",
        14: "moderate",
        15: "severe",
        21: "severe",
    }
    assert {t: gad.band(t) for t in expected} == expected
    assert gad.caseness_cutoff == 8 and gad.reliable_change == 4


BUILT_IN = ["PHQ-9", "GAD-7", "PHQ-8", "PHQ-2", "GAD-2", "PCL-5"]


def test_every_number_has_a_source():
    assert iop.instruments.names()[: len(BUILT_IN)] == BUILT_IN
    for name in BUILT_IN:  # (other tests register their own instruments)
        ins = iop.instruments.get(name)
        assert ins.bands_source, name
        for value, source in [
            (ins.caseness_cutoff, ins.caseness_source),
            (ins.reliability, ins.reliability_source),
            (ins.mid, ins.mid_source),
            (ins.reliable_change, ins.reliable_change_source),
            (ins.norm_mean, ins.norm_source),
            (ins.clinical_mean, ins.clinical_source),
        ]:
            assert value is None or source, (name, value)


def test_register_from_toml(tmp_path):
    f = tmp_path / "clinic.toml"
    f.write_text(
        'name = "CLINIC-4"\nn_items = 4\nitem_min = 0\nitem_max = 4\n'
        'bands = [[0, 7, "low"], [8, 16, "high"]]\ncaseness_cutoff = 8\n'
        "answer_labels = { never = 0, rarely = 1, sometimes = 2, often = 3, always = 4 }\n"
    )
    ins = iop.instruments.register(f, replace=True)
    assert iop.instruments.get("clinic4") is ins
    assert ins.answer_labels["often"] == 3 and ins.total_max == 16


def test_register_rejects_bad_definitions():
    with pytest.raises(InstrumentError, match="gap or overlap"):
        iop.instruments.register(
            {
                "name": "BAD-1",
                "n_items": 2,
                "item_min": 0,
                "item_max": 3,
                "bands": [[0, 2, "a"], [4, 6, "b"]],
            }
        )
    with pytest.raises(InstrumentError, match="unknown field"):
        iop.instruments.register(
            {
                "name": "BAD-2",
                "n_items": 2,
                "item_min": 0,
                "item_max": 3,
                "bands": [[0, 6, "a"]],
                "colour": 1,
            }
        )
    with pytest.raises(InstrumentError, match="already registered"):
        iop.instruments.register(
            {"name": "PHQ-9", "n_items": 2, "item_min": 0, "item_max": 3, "bands": [[0, 6, "a"]]}
        )


def test_unknown_instrument_message_lists_known_ones():
    with pytest.raises(InstrumentError, match=r"Unknown instrument 'BDI-II'.*PHQ-9.*register"):
        iop.instruments.get("BDI-II")

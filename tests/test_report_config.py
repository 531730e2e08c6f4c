"""Study configuration: labels follow the same rules as the data."""


def test_config_reference_label_follows_the_data_label_rules():
    from iop_outcomes.report.config import load_config

    assert (
        load_config({"comparison": {"reference": "In Person"}}).comparison_reference == "in_person"
    )
    assert (
        load_config({"comparison": {"reference": "Telehealth"}}).comparison_reference == "virtual"
    )
    cfg = load_config({"comparison": {"group": "site", "reference": "North"}})
    assert cfg.comparison_reference == "North"

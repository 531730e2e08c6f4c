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


def test_episode_rules_by_label_from_a_study_file(tmp_path):
    import pytest

    import iop_outcomes as iop
    from iop_outcomes.exceptions import ConfigError
    from iop_outcomes.report.build import _episode_rules
    from iop_outcomes.report.config import load_config

    study = tmp_path / "study.toml"
    study.write_text(
        "[episodes]\n"
        'baseline = "label:intake"\n'
        'endpoint = "label:discharge else last_in_treatment"\n'
        'followup = "label"\n'
        "baseline_window = [-14, 7]\n"
    )
    cfg = load_config(study)
    rules = _episode_rules(cfg)
    assert rules == iop.EpisodeRules(
        baseline="label:intake",
        endpoint="label:discharge else last_in_treatment",
        followup="label",
        baseline_window=[-14, 7],
    )
    assert rules.describe().startswith("Baseline: the score labelled 'intake'")
    assert load_config({}).episode_rules == {}  # no [episodes]: the library defaults

    study.write_text('[episodes]\nbaseline = "label:intak"\n')
    with pytest.raises(
        ConfigError, match=r"Got 'label:intak' instead\. \(In \[episodes\] in .*study\.toml\.\)"
    ):
        load_config(study)
    study.write_text('[episodes]\nbaseline_rule = "label:intake"\n')
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) \['baseline_rule'\] in \[episodes\]"):
        load_config(study)


def test_report_methods_state_the_label_episode_rules(tmp_path):
    import html as _html
    import warnings

    import iop_outcomes as iop

    sim = iop.synth.generate(n_episodes=120, seed=4)
    cfg = {
        "sensitivity": {"methods": ["completers", "bocf"]},
        "trajectories": {"enabled": False},
        "episodes": {"baseline": "label:intake", "endpoint": "label:discharge"},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        iop.report(sim, config=cfg, out=tmp_path)
    page = _html.unescape((tmp_path / "report.html").read_text())
    meth = page[page.index('id="methods"') : page.index('id="provenance"')]
    assert "Baseline: the score labelled 'intake' (the earliest if several)" in meth
    assert "Endpoint (label:discharge): the score labelled 'discharge'" in meth

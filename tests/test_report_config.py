"""Study configuration: labels follow the same rules as the data."""


def test_config_reference_label_follows_the_data_label_rules():
    from iop_outcomes._report.config import load_config

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
    from iop_outcomes._report.config import load_config
    from iop_outcomes._report.inputs import episode_rules
    from iop_outcomes.exceptions import ConfigError

    study = tmp_path / "study.toml"
    study.write_text(
        "[episodes]\n"
        'baseline = "label:intake"\n'
        'endpoint = "label:discharge else last_in_treatment"\n'
        'followup = "label"\n'
        "baseline_window = [-14, 7]\n"
    )
    cfg = load_config(study)
    rules = episode_rules(cfg)
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


def test_data_table_takes_the_reading_options_relative_to_the_study_file(tmp_path):
    from iop_outcomes._report.config import load_config

    study = tmp_path / "conf" / "study.toml"
    study.parent.mkdir()
    study.write_text(
        '[data]\nmapping = "m.toml"\nsheet = "PHQ scores"\nskip_rows = 2\nwide = true\n'
        'episodes = "episodes.csv"\n'
    )
    cfg = load_config(study)
    assert cfg.load_options() == {
        "mapping": str(study.parent / "m.toml"),
        "sheet": "PHQ scores",
        "skip_rows": 2,
        "wide": True,
        "episodes": str(study.parent / "episodes.csv"),
        "source": None,
        "dictionary": None,
        "harmonize": None,
    }
    d = cfg.to_dict()  # provenance: file names without their folders; defaults left out
    assert (d["mapping"], d["episodes"], d["sheet"], d["skip_rows"], d["wide"]) == (
        "m.toml",
        "episodes.csv",
        "PHQ scores",
        2,
        True,
    )
    assert not {"sheet", "skip_rows", "wide", "episodes"} & set(load_config().to_dict())
    assert load_config({"data": {"sheet": 1}}).load_options()["sheet"] == 1


def test_data_table_reading_options_are_checked():
    import pytest

    from iop_outcomes._report.config import load_config
    from iop_outcomes.exceptions import ConfigError

    cases = [
        (
            {"skip_rows": -1},
            "The 'skip_rows' key in [data] must be an integer >= 0 (the title rows above the "
            "header). Got -1 instead.",
        ),
        (
            {"sheet": -2},
            "The 'sheet' key in [data] must be a sheet name or a 0-based position (an integer "
            ">= 0). Got -2 instead.",
        ),
        (
            {"sheet": True},
            "The 'sheet' key in [data] must be a sheet name or a 0-based position (an integer "
            ">= 0). Got True instead.",
        ),
        ({"wide": "yes"}, "The 'wide' key in [data] must be of type bool. Got 'yes' instead."),
        (
            {"harmonize": "PHQ-9"},
            "The 'harmonize' key in [data] must be 'PHQ-8' (PHQ-9 scored as PHQ-8 from items "
            "1-8). Got 'PHQ-9' instead.",
        ),
        (
            {"sheets": "x"},
            "Unknown key(s) ['sheets'] in [data]. Known keys: ['dictionary', 'episodes', "
            "'harmonize', 'mapping', 'sheet', 'skip_rows', 'source', 'wide'].",
        ),
    ]
    for data, message in cases:
        with pytest.raises(ConfigError) as e:
            load_config({"data": data})
        assert str(e.value) == message


def test_missing_data_sensitivity_in_the_report_follows_the_study_rules(tmp_path, monkeypatch):
    # the section analyses the discharge-endpoint episodes and roles of the report's one
    # episode pass (episodes_with_discharge), under the study's rules: the same table as
    # missing_data_sensitivity of the loaded rows, which builds its own
    import warnings

    import pandas as pd

    import iop_outcomes as iop
    from iop_outcomes._report.sections import sensitivity as section

    seen = []
    real = section.sensitivity_of

    def spy(*args, **kw):
        seen.append((kw, real(*args, **kw)))
        return seen[-1][1]

    monkeypatch.setattr(section, "sensitivity_of", spy)
    cfg = {
        "sensitivity": {"methods": ["completers", "locf", "mi", "mixed"], "n_imputations": 5},
        "trajectories": {"enabled": False},
        "episodes": {"baseline": "label:intake", "endpoint": "label:discharge"},
    }
    sim = iop.synth.generate(n_episodes=120, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        iop.report(sim, config=cfg, out=tmp_path)
        assert len(seen) == 1
        kw, got = seen[0]
        assert (kw["rules"]["baseline"], kw["rules"]["endpoint"]) == (
            "label:intake",
            "label:discharge",
        )
        own = iop.missing_data_sensitivity(iop.load(sim.data), **kw)
    pd.testing.assert_frame_equal(got.table, own.table)
    assert got.notes == own.notes


def test_suppression_policy_from_the_study_file(tmp_path):
    import pytest

    from iop_outcomes._report.config import StudyConfig, load_config
    from iop_outcomes.exceptions import ConfigError

    cfg = load_config({})
    assert (cfg.suppression_policy, cfg.suppression_threshold) == ("cms", 11)
    assert "suppression_policy" not in cfg.to_dict()  # the default is not repeated
    cfg = load_config({"suppression": {"policy": "round5"}})
    assert (cfg.suppression_policy, cfg.suppression_threshold) == ("round5", 5)
    assert cfg.to_dict()["suppression_policy"] == "round5"
    cfg = load_config({"suppression": {"policy": "round5", "threshold": 11}})
    assert cfg.suppression_threshold == 11  # "<11" as configured
    cfg = load_config({"suppression": {"policy": "cms", "threshold": 6}})
    assert cfg.suppression_threshold == 6
    cfg = load_config({"suppression": {"policy": "None"}})  # case does not matter
    assert (cfg.suppression_policy, cfg.suppression_threshold) == ("none", None)
    # the older keys keep working: enabled = false is the policy "none"
    cfg = load_config({"suppression": {"enabled": False, "threshold": 5}})
    assert (cfg.suppression_policy, cfg.suppression_threshold) == ("none", None)
    assert not StudyConfig(suppression_enabled=False).suppression_enabled
    # a misspelt policy names the valid ones and the nearest
    study = tmp_path / "study.toml"
    study.write_text('[suppression]\npolicy = "round_5"\n')
    with pytest.raises(ConfigError) as e:
        load_config(study)
    msg = str(e.value)
    assert "The 'policy' key in [suppression] in " in msg and str(study) in msg
    assert "must be one of 'cms', 'round5', 'none'" in msg
    assert msg.endswith("Got 'round_5' instead; did you mean 'round5'?")
    with pytest.raises(ConfigError, match=r"Got 'hipaa' instead\.$"):
        load_config({"suppression": {"policy": "hipaa"}})
    with pytest.raises(ConfigError, match=r"enabled = false and policy = 'round5'"):
        load_config({"suppression": {"policy": "round5", "enabled": False}})
    for bad in (2, 7):
        with pytest.raises(ConfigError, match=r"at least 3 and not 7, 12, 17, ... under policy"):
            load_config({"suppression": {"policy": "round5", "threshold": bad}})
    with pytest.raises(ConfigError, match=r"Known keys: \['enabled', 'policy', 'threshold'\]"):
        load_config({"suppression": {"polcy": "cms"}})


def test_suppression_option_on_the_command_line(tmp_path, capsys):
    from iop_outcomes.cli import _config, build_parser, main

    study = tmp_path / "study.toml"
    study.write_text("[suppression]\nthreshold = 11\n")
    data = tmp_path / "d.csv"
    data.write_text("patient_id,instrument,assessment_date,total\n")

    def cfg(*extra):
        return _config(build_parser().parse_args(["report", str(data), "--out", "o", *extra]))

    assert cfg().suppression_policy == "cms"
    assert cfg("--suppression", "round5").suppression_threshold == 5
    got = cfg("--config", str(study), "--suppression", "round5")
    assert (got.suppression_policy, got.suppression_threshold) == ("round5", 11)  # the file's
    assert cfg("--suppression", "none").suppression_threshold is None
    code = main(["report", str(data), "--out", str(tmp_path / "r"), "--suppression", "cmss"])
    err = capsys.readouterr().err
    assert code == 3 and "--suppression" in err and "did you mean 'cms'?" in err

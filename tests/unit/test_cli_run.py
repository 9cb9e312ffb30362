"""``smarketing run``: refused before anything starts when the business date cannot be one."""

import pytest

from smarketing import cli


def test_a_business_date_in_the_future_is_refused(capsys):
    assert cli.main(["run", "--as-of", "2999-01-01"]) == 2
    assert "--as-of 2999-01-01 is in the future" in capsys.readouterr().err


def test_only_names_a_stage(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "--only", "merge"])
    assert exit_.value.code == 2
    assert "invalid choice: 'merge'" in capsys.readouterr().err


@pytest.mark.parametrize(("sources", "name", "message"), [
    ("systems:\n  salesforce: {kind: salesforce}\n", "salesfroce.opportunities",
     "no system 'salesfroce' in config/sources.yaml (salesforce)"),
    ("systems:\n  salesforce: {kind: salesforce}\n", "salesforce.opportunity",
     "salesforce has no entity 'opportunity' (accounts, leads,"),
    ("systems: {}\n", "hubspot", "no system 'hubspot' in config/sources.yaml (none configured)"),
    ("systems: {}\n", "file", "smarketing files reload"),
])
def test_a_resync_of_nothing_configured_is_refused_before_anything_runs(capsys, tmp_path, monkeypatch, sources,
                                                                      name, message):
    (tmp_path / "sources.yaml").write_text(sources)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    assert cli.main(["run", "--resync", name]) == 2
    assert message in capsys.readouterr().err

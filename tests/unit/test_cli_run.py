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


def test_a_full_refresh_without_the_transform_stage_is_refused(capsys):
    assert cli.main(["run", "--full-refresh", "--only", "kpis", "--as-of", "2026-06-30"]) == 2
    assert "--full-refresh recomputes core in the transform stage" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["warehouse", "stop", "extra"], ["warehouse", "checksums", "extra"],
                                  ["warehouse", "url", "--role", "smarketing_bi"], ["warehouse", "start", "--admin"]])
def test_a_warehouse_action_refuses_what_it_does_not_take(capsys, argv):
    assert cli.main(argv) == 2
    assert "takes no" in capsys.readouterr().err

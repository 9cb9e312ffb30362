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

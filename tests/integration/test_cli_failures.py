"""The command line's expected failures: one line on stderr and the exit code its help documents
(0 done, 1 nothing to do it on, 2 a wrong command or file, 3 no warehouse, 141 a closed pipe),
never a traceback; help without markup; --version."""

import os
import sys

import pytest

from smarketing import cli


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("smarketing 0.")


@pytest.mark.parametrize("argv", [[], ["run"], ["demo"], ["warehouse"], ["config"], ["files"], ["lists", "pull"],
                                  ["lists", "suppress"], ["identity", "review"], ["identity-score"], ["migrate"]])
def test_help_is_plain_text(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    assert exit_.value.code == 0
    shown = capsys.readouterr().out
    assert "usage: smarketing" in shown and "`" not in shown


def test_an_unreachable_warehouse_is_one_line_and_exit_3_without_the_password(monkeypatch, capsys):
    monkeypatch.setenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", "postgresql://someone:s3cretpw@127.0.0.1:9/nowhere")
    assert cli.main(["lists", "pull", "cross_sell"]) == 3
    line = one_line(capsys.readouterr().err)
    assert line.startswith("smarketing: cannot reach the warehouse") and "port 9" in line and "s3cretpw" not in line


@pytest.mark.parametrize("argv", [["lists", "pull", "cross_sell"], ["report"]])
def test_no_warehouse_running_or_configured_is_exit_3_too(monkeypatch, capsys, tmp_path, argv):
    """The embedded warehouse stopped and no connection set: nothing to reach, as with a dead host."""
    monkeypatch.delenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", raising=False)
    monkeypatch.setenv("SMARKETING_WAREHOUSE_DIR", str(tmp_path / "never-started"))
    assert cli.main(argv) == 3
    assert "smarketing warehouse start" in one_line(capsys.readouterr().err)


def test_an_output_file_that_cannot_be_written_is_exit_2_before_anything_is_read(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", "postgresql://someone:pw@127.0.0.1:9/nowhere")
    target = tmp_path / "no-such-folder" / "list.csv"
    assert cli.main(["lists", "pull", "cross_sell", "--out", str(target)]) == 2
    assert "its folder does not exist" in one_line(capsys.readouterr().err)
    assert not target.parent.exists()


def test_a_list_not_built_for_the_date_writes_nothing_and_exits_1(empty_warehouse, capsys, tmp_path):
    target = tmp_path / "list.csv"
    assert cli.main(["lists", "pull", "cross_sell", "--as-of", "2026-06-30", "--out", str(target)]) == 1
    assert "was not built for 2026-06-30" in one_line(capsys.readouterr().err)
    assert not target.exists()


def test_a_reader_that_goes_away_ends_the_command_quietly(empty_warehouse, monkeypatch, capsys):
    read, write = os.pipe()
    os.close(read)  # like `| head` after its first lines
    closed = os.fdopen(write, "w", buffering=1)
    monkeypatch.setattr(sys, "stdout", closed)
    try:
        assert cli.main(["identity", "review"]) == 141
    finally:
        monkeypatch.undo()
        closed.close()
    assert "Traceback" not in capsys.readouterr().err


def test_an_unknown_program_and_a_bad_address_are_exit_2(capsys):
    assert cli.main(["lists", "pull", "no_such_program"]) == 2
    assert "no program 'no_such_program'" in one_line(capsys.readouterr().err)
    assert cli.main(["lists", "suppress", "not an email", "--reason", "x"]) == 2
    assert "is not an email address" in one_line(capsys.readouterr().err)

"""The check every test of a user error makes: ``python -m helpers ARGV`` exits with code 2 and prints one line,
``error: <what> — <what to do>``, and no traceback."""

from __future__ import annotations

import pytest

from helpers import cli


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], *expected: str) -> str:
    """Run ``python -m helpers ARGV``: exit code 2, one line on stderr ``error: <what> — <what to do>`` holding each
    of ``expected``, and no traceback."""
    code = cli.main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and " — " in lines[0], err
    assert "Traceback" not in err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]

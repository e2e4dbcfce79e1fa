"""Helpers of the command-line tests."""

__all__ = ["one_line_error", "one_line_error_text"]


def one_line_error(capsys, command):
    return one_line_error_text(capsys.readouterr().err, command)


def one_line_error_text(err, command):
    err = err.strip()
    lines = [line for line in err.splitlines() if ": warning: " not in line]
    assert len(lines) == 1 and lines[0].startswith(f"astrofmx {command}: error:"), err
    return lines[0]

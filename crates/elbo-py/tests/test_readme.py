"""The "From Python" example of the repository's README runs as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_example_runs(capsys):
    if not README.is_file():
        pytest.skip("needs the elbo source tree")
    text = README.read_text(encoding="utf-8")
    section = text.split("## From Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 8 <= len(code.strip().splitlines()) <= 12
    exec(compile(code, str(README), "exec"), {})
    assert "True" in capsys.readouterr().out

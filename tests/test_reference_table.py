"""docs/reference.md, the table of every call diffc knows, is generated from the operation catalogue
by tools/reference_table.py and must be current; every call in it with a rule says so."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("reference_table", ROOT / "tools" / "reference_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_table_is_current():
    committed = (ROOT / "docs" / "reference.md").read_text()
    assert _tool().render() == committed, "regenerate: python tools/reference_table.py > docs/reference.md"


def test_reference_table_lists_the_new_rules():
    text = (ROOT / "docs" / "reference.md").read_text()
    for op in ("einsum", "cholesky", "logsumexp", "cumprod"):
        row = next(line for line in text.splitlines() if f"| `{op}` |" in line)
        assert "| rule |" in row

"""Every committed generated file is valid Python: each examples/*_grad.py, and each golden
file that is Python, goes through ``compile()``. A generated file that does not compile
would fail only when a user imports it; this catches it at the commit that writes it.
"""

import ast

import pytest
from conftest import ROOT

GRAD_FILES = sorted((ROOT / "examples").glob("*_grad.py"))
GOLDEN = sorted(p for p in (ROOT / "tests" / "golden").glob("*") if p.is_file())


def is_python(path) -> bool:
    """A golden file is Python if it is named .py, or if it parses and defines a function."""
    if path.suffix == ".py":
        return True
    try:
        tree = ast.parse(path.read_text())
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return False
    return any(isinstance(node, (ast.FunctionDef, ast.Import, ast.ImportFrom)) for node in tree.body)


def test_there_are_generated_files_to_check():
    assert len(GRAD_FILES) >= 5, GRAD_FILES


@pytest.mark.parametrize("path", GRAD_FILES, ids=[p.name for p in GRAD_FILES])
def test_example_gradient_file_compiles(path):
    text = path.read_text()
    code = compile(text, str(path), "exec")
    assert code.co_filename == str(path)
    # A gradient file defines at least one gradient function, named after its source.
    names = [n.name for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)]
    assert any(n.endswith(("_grad", "_value_and_grad")) for n in names), names


@pytest.mark.parametrize("path", GOLDEN, ids=[p.name for p in GOLDEN])
def test_golden_file_compiles_if_python(path):
    if not is_python(path):
        pytest.skip(f"{path.name} is not Python")
    compile(path.read_text(), str(path), "exec")

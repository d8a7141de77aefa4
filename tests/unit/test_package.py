"""The package surface: cheap import, sorted and complete __all__, CLI entry points, doctests."""

from __future__ import annotations
import __future__

import doctest
import importlib
import pathlib
import pkgutil
import subprocess
import sys

import pytest

import backendperf

HEAVY = ("sqlglot", "sqlalchemy", "redis", "rich", "psycopg", "pymysql", "msgpack")


def test_import_is_cheap() -> None:
    """`import backendperf` (and the pytest plugin) loads none of the heavy dependencies."""
    code = (
        "import sys, backendperf, backendperf.pytest_plugin, backendperf.cache;"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_root_import_leaves_the_cache_api_for_first_use() -> None:
    """`backendperf digest` starts without asyncio: the cache API loads when first named."""
    code = (
        "import sys, backendperf;"
        "before = 'asyncio' in sys.modules or 'backendperf.cache' in sys.modules;"
        "from backendperf import cached;"
        "print(before, cached.__module__, 'backendperf.cache' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "backendperf.cache.decorator", "True"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        backendperf.nope  # noqa: B018


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted, every name resolves, and no public name is missing from it."""
    assert backendperf.__all__ == sorted(backendperf.__all__)
    for name in backendperf.__all__:
        assert getattr(backendperf, name) is not None
    public = {
        n
        for n in vars(backendperf)
        if not n.startswith("_")
        and not isinstance(getattr(backendperf, n), type(sys) | __future__._Feature)
    }
    assert public <= set(backendperf.__all__)


def _modules() -> list[str]:
    names = ["backendperf"]
    for info in pkgutil.walk_packages(backendperf.__path__, "backendperf."):
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", _modules())
def test_docstring_examples(module_name: str) -> None:
    """Every docstring example in the package runs and prints what it shows."""
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_python_dash_m_and_version() -> None:
    """`python -m backendperf --version` prints the version and exits 0."""
    out = subprocess.run(
        [sys.executable, "-m", "backendperf", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"backendperf {backendperf.__version__}"


def test_cli_demo_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo runs; no command or bad numbers exit 2."""
    from backendperf.cli import main

    assert main(["demo", "--calls", "200", "--distinct", "10", "--delay-ms", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "hits=190 misses=10" in out
    assert main([]) == 2
    assert main(["demo", "--calls", "0"]) == 2
    assert main(["no-such-command"]) == 2


def test_exceptions_inherit_builtins() -> None:
    """Each error is catchable by the builtin a user would reach for."""
    from backendperf import exceptions as e

    assert issubclass(e.ConfigurationError, ValueError)
    assert issubclass(e.UnhashableArgumentError, TypeError)
    assert issubclass(e.MissingDependencyError, ImportError)
    assert issubclass(e.LogFormatError, ValueError)
    err = e.MissingDependencyError("redis", "redis", "RedisBackend")
    assert "pip install 'backendperf[redis]'" in str(err)


def test_changelog_copies_agree() -> None:
    """CHANGELOG.md (the repository's) and docs/changelog.md (the site's) say the same."""
    root = pathlib.Path(__file__).parents[2]
    assert (root / "CHANGELOG.md").read_text() == (root / "docs" / "changelog.md").read_text()

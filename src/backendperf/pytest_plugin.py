"""pytest plugin (``pytest11`` entry point ``backendperf``): query budgets, N+1 failures, a
report of the run's statements, JSONL and SARIF output, and index advice from the test suite.

A thin layer over :mod:`backendperf.testing`. It costs nothing for projects that do not use
it: until a test asks for a ``backendperf_*`` fixture, carries the ``backendperf`` marker, or
a ``--backendperf-*`` option is on, nothing is imported beyond this module and the standard
library, and no engine is touched. Disable it with ``-p no:backendperf``.

See docs/pytest.md for every fixture, marker and option, with real output.
"""

from __future__ import annotations

import json
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import pytest

from backendperf import testing
from backendperf.profiling import _attach, _detach, record_event

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Sequence
    from contextlib import AbstractContextManager

    from backendperf.profiling import _Record
    from backendperf.testing import Kind, QueryRecorder
    from backendperf.workload.sketch import Sketch

PYTEST_DONT_REWRITE = True

__all__ = [
    "AssertQueries",
    "backendperf_assert_max_queries",
    "backendperf_assert_num_queries",
    "backendperf_queries",
]

_RECORDING = pytest.StashKey["testing._Recording"]()
_MARKER_ARGS: Final = (
    "max_queries",
    "num_queries",
    "max_time_ms",
    "nplusone",
    "nplusone_threshold",
    "table",
    "kind",
    "include_transaction",
)
_MARKER_DOC: Final = (
    "backendperf(max_queries=None, num_queries=None, max_time_ms=None, nplusone=None, "
    "nplusone_threshold=None, table=None, kind=None, include_transaction=False): query budget "
    "of the test's call phase (num_queries: exact); nplusone='fail'|'report'|'ignore' "
    "overrides --backendperf-nplusone; table/kind narrow what the budget counts"
)
_NPLUSONE_MODES: Final = ("fail", "report", "off")


# --------------------------------------------------------------------------------------------
# Options


_FLAG: Final = {"action": "store_true", "ini": "bool", "default": False}
# name -> help, and how to declare it (argparse keywords; "ini" is the ini type, "default"
# the ini default). Every option is also an ini key: backendperf_<name with underscores>.
_OPTIONS: Final[dict[str, tuple[str, dict[str, Any]]]] = {
    "nplusone": (
        "what an N+1 pattern in a test does: fail the test, report it at the end, or off "
        "(default: off)",
        {"choices": _NPLUSONE_MODES, "ini": "string", "default": "off"},
    ),
    "nplusone-threshold": (
        "repeats of one SELECT shape that make an N+1 (default 5; a relationship lazy-loaded "
        "for 2 parents always does)",
        {"type": int, "ini": "string", "default": "5"},
    ),
    "report": (
        "print a summary at the end: slowest statements, tests with the most queries, N+1s",
        _FLAG,
    ),
    "report-only": (
        "budgets and N+1 checks never fail a test: they are reported (to adopt gradually)",
        _FLAG,
    ),
    "phases": (
        "test phases whose statements count: 'call' (default) or 'all' (setup and teardown, "
        "so fixtures' queries count too)",
        {"choices": ("call", "all"), "ini": "string", "default": "call"},
    ),
    "jsonl": (
        "write every statement of the run as a QueryEvent line to this file",
        {"metavar": "PATH", "ini": "string", "default": ""},
    ),
    "sarif": (
        "write N+1 findings, budget failures and missing indexes as SARIF 2.1.0 to this file",
        {"metavar": "PATH", "ini": "string", "default": ""},
    ),
    "advise": ("run the index advisor over every statement the suite ran; print its advice", _FLAG),
    "schema": (
        "DDL file for --backendperf-advise (default: the CREATE statements the suite ran, "
        "else the database of the engine that ran the most statements)",
        {"metavar": "DDL", "ini": "string", "default": ""},
    ),
    "baseline": (
        "advice JSON of an earlier run (--backendperf-advise-json): its indexes are known",
        {"metavar": "FILE", "ini": "string", "default": ""},
    ),
    "advise-json": (
        "write the index advice as JSON (the format --backendperf-baseline reads)",
        {"metavar": "PATH", "ini": "string", "default": ""},
    ),
    "advise-fail": (
        "exit 1 when the advisor finds missing indexes: 'any', 'new' (not in the baseline), "
        "or 'never' (default)",
        {"choices": ("never", "any", "new"), "ini": "string", "default": "never"},
    ),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("backendperf", "backendperf: query budgets, N+1 checks, index advice")
    for name, (help_text, spec) in _OPTIONS.items():
        kwargs = {k: v for k, v in spec.items() if k not in ("ini", "default")}
        dest = "backendperf_" + name.replace("-", "_")
        group.addoption(f"--backendperf-{name}", dest=dest, default=None, help=help_text, **kwargs)
        parser.addini(dest, help=help_text, type=spec["ini"], default=spec["default"])
    parser.addini(
        "backendperf_nplusone_ignore",
        "N+1 findings to leave out, one glob per line: a relationship (User.addresses), a "
        "caller path (app/reports.py), or SQL (*FROM audit_log*)",
        type="linelist",
        default=[],
    )


def _get(config: pytest.Config, name: str) -> Any:
    dest = "backendperf_" + name.replace("-", "_")
    value = config.getoption(dest, default=None)
    if value is None or value is False:
        ini = config.getini(dest)
        return ini if ini not in ("", None) else value
    return value


# --------------------------------------------------------------------------------------------
# The run's statements (every phase, every test)


def _sketch() -> Sketch:
    from backendperf.workload.sketch import Sketch

    return Sketch()


@dataclass(slots=True)
class _Shape:
    """One statement shape across the run (JSON-able, for xdist's controller)."""

    fingerprint: str
    normalized: str
    statement: str
    dialect: str | None
    database: str | None
    count: int = 0
    calls_in_tests: int = 0
    """Of ``count``, those run by tests' call phases (what the advisor weighs)."""
    total_ms: float = 0.0
    max_ms: float = 0.0
    caller: str | None = None
    sketch: Sketch = field(default_factory=_sketch)
    """The durations, as the digest's bounded, mergeable quantile sketch."""
    slow_statement: str = ""
    slow_params: Any = None


class _Run:
    """Process-wide recorder of every statement in the run (attached while the session runs)."""

    def __init__(self, jsonl: str | None) -> None:
        self.name: str | None = None  # the current test's node id (QueryEvent.scope)
        self.phase = "setup"
        self.shapes: dict[str, _Shape] = {}
        self.tests: dict[str, list[float]] = {}  # node id -> [count, ms] of its call phase
        self.ddl: dict[tuple[str, str], None] = {}  # (dialect, CREATE ...), first seen first
        self.urls: dict[str, int] = {}
        self._seen_engines: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self.sink: Any = None
        if jsonl:
            from backendperf.profiling import JsonlSink

            self.sink = JsonlSink(jsonl)

    def _add(self, record: _Record, normalized: str, context: Any) -> _Record:
        ms = record[1]
        kind = testing._kind_cached(normalized)
        with self._lock:
            shape = self.shapes.get(record[3])
            if shape is None:
                qctx = record[9]
                shape = self.shapes[record[3]] = _Shape(
                    record[3], normalized, record[2], qctx.dialect, qctx.database
                )
            shape.count += 1
            shape.total_ms += ms
            if ms >= shape.max_ms:
                shape.max_ms = ms
                shape.slow_statement = record[2]
                shape.slow_params = _jsonable(record[4])
            shape.sketch.add(ms)
            if shape.caller is None:
                shape.caller = record[6]
            if self.phase == "call" and self.name is not None:
                shape.calls_in_tests += 1
                test = self.tests.setdefault(self.name, [0, 0.0])
                test[0] += 1
                test[1] += ms
            if kind == "DDL" and normalized.startswith(
                ("create table", "create index", "create unique")
            ):
                self.ddl.setdefault((record[9].dialect, record[2]), None)
            engine = testing._engine_of(context)
            if engine is not None:
                url = self._seen_engines.get(engine)
                if url is None:
                    url = self._seen_engines[engine] = _url(engine)
                self.urls[url] = self.urls.get(url, 0) + 1
        if self.sink is not None:
            event = record_event(record, self.name)
            event.extra["phase"] = self.phase
            event.extra["kind"] = kind
            self.sink(event)
        return record

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()

    # -- xdist ------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "shapes": [_shape_json(s) for s in self.shapes.values()],
            "tests": self.tests,
            "ddl": list(self.ddl),
            "urls": self.urls,
        }

    def merge(self, data: dict[str, Any]) -> None:
        for raw in data.get("shapes", ()):
            other = _shape_from_json(raw)
            mine = self.shapes.get(other.fingerprint)
            if mine is None:
                self.shapes[other.fingerprint] = other
                continue
            mine.count += other.count
            mine.calls_in_tests += other.calls_in_tests
            mine.total_ms += other.total_ms
            if other.max_ms > mine.max_ms:
                mine.max_ms = other.max_ms
                mine.slow_statement, mine.slow_params = other.slow_statement, other.slow_params
            mine.sketch.merge(other.sketch)
            mine.caller = mine.caller or other.caller
        for nodeid, (count, ms) in data.get("tests", {}).items():
            test = self.tests.setdefault(nodeid, [0, 0.0])
            test[0] += count
            test[1] += ms
        for dialect, statement in data.get("ddl", ()):
            self.ddl.setdefault((dialect, statement), None)
        for url, n in data.get("urls", {}).items():
            self.urls[url] = self.urls.get(url, 0) + n


def p95(shape: _Shape) -> float:
    """The 95th percentile of a shape's durations, from its sketch (1% relative error)."""
    return min(shape.sketch.quantile(0.95), shape.max_ms)


def _shape_json(s: _Shape) -> dict[str, Any]:
    data = {name: getattr(s, name) for name in _Shape.__slots__ if name != "sketch"}
    data["sketch"] = s.sketch.to_dict()
    return data


def _shape_from_json(raw: dict[str, Any]) -> _Shape:
    raw = dict(raw)
    from backendperf.workload.sketch import Sketch

    data = raw.pop("sketch")
    return _Shape(**raw, sketch=Sketch.from_dict(data))


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None if value is None else repr(value)
    return value


def _url(engine: Any) -> str:
    try:
        return str(engine.url.render_as_string(hide_password=False))
    except Exception:
        return str(getattr(engine, "url", "?"))


@dataclass(frozen=True, slots=True)
class _Finding:
    """A failed budget or an N+1, for the report and SARIF (JSON-able)."""

    rule: str  # "nplusone" | "query-budget"
    nodeid: str
    message: str
    location: str | None
    failed: bool


# --------------------------------------------------------------------------------------------
# The plugin


class _Plugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.nplusone: str = _get(config, "nplusone") or "off"
        if self.nplusone not in _NPLUSONE_MODES:
            raise pytest.UsageError(
                f"backendperf_nplusone = {self.nplusone!r}: use one of {', '.join(_NPLUSONE_MODES)}"
            )
        try:
            self.threshold = int(_get(config, "nplusone-threshold") or 5)
        except ValueError as exc:
            raise pytest.UsageError(f"backendperf_nplusone_threshold: {exc}") from None
        if self.threshold < 2:
            raise pytest.UsageError("--backendperf-nplusone-threshold must be at least 2")
        self.ignore: list[str] = list(config.getini("backendperf_nplusone_ignore"))
        self.report = bool(_get(config, "report"))
        self.report_only = bool(_get(config, "report-only"))
        self.all_phases = (_get(config, "phases") or "call") == "all"
        self.jsonl: str = _get(config, "jsonl") or ""
        self.sarif: str = _get(config, "sarif") or ""
        self.advise = bool(_get(config, "advise"))
        self.schema: str = _get(config, "schema") or ""
        self.baseline: str = _get(config, "baseline") or ""
        self.advise_json: str = _get(config, "advise-json") or ""
        self.advise_fail: str = _get(config, "advise-fail") or "never"
        if self.advise_fail == "new" and not self.baseline:
            raise pytest.UsageError("--backendperf-advise-fail=new needs --backendperf-baseline")
        if self.advise_fail != "never" or self.advise_json or self.baseline:
            self.advise = True
        self.whole_run = bool(self.report or self.jsonl or self.sarif or self.advise)
        self.findings: list[_Finding] = []
        self.run: _Run | None = None
        self.advice: Any = None
        self.advice_error: str | None = None
        self.active = False
        self.missing: str | None = None
        self.workerid: str | None = getattr(config, "workerinput", {}).get("workerid")

    # -- activation: only when something asks for it ----------------------------------------

    def _activate(self) -> None:
        if self.active or self.missing:
            return
        try:
            testing._acquire()
        except ImportError as exc:
            self.missing = f"backendperf needs SQLAlchemy for query checks ({exc})"
            return
        self.active = True
        if self.whole_run and not self._controller():
            path = self.jsonl
            if path and self.workerid is not None:
                path = f"{path}.{self.workerid}.part"
            self.run = _Run(path or None)
            _attach(self.run)

    def _controller(self) -> bool:
        return self.config.pluginmanager.hasplugin("dsession")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.jsonl and self.workerid is None:
            jsonl = Path(self.jsonl)
            for stale in jsonl.parent.glob(jsonl.name + ".*.part"):
                stale.unlink()
            if jsonl.exists():
                jsonl.unlink()
        if self.whole_run or self.nplusone != "off":
            self._activate()
        if self.run is None and self._controller() and self.whole_run:
            self.run = _Run(None)  # the controller merges what its workers send

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if item.get_closest_marker("backendperf") is not None or any(
                name.startswith("backendperf_") for name in getattr(item, "fixturenames", ())
            ):
                self._activate()
                return

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.run is not None:
            _detach(self.run)
            self.run.close()
        if self.active:
            self.active = False
            testing._release()

    # -- per test ---------------------------------------------------------------------------

    def _start(self, item: pytest.Item, phase: str) -> None:
        if self.run is not None:
            self.run.name, self.run.phase = item.nodeid, phase
        recording = item.stash.get(_RECORDING, None)
        if recording is not None and (phase == "call" or self.all_phases):
            _attach(recording, first=True)

    def _stop(self, item: pytest.Item) -> None:
        recording = item.stash.get(_RECORDING, None)
        if recording is not None:
            _detach(recording)
        if self.run is not None:
            self.run.phase = "between"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        if self.active:
            item.stash[_RECORDING] = testing._Recording(item.nodeid, 100_000)
        elif item.get_closest_marker("backendperf") is not None and self.missing:
            pytest.fail(self.missing, pytrace=False)
        self._start(item, "setup")
        try:
            return (yield)
        finally:
            if not self.all_phases:
                self._stop(item)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        if not self.all_phases:
            self._start(item, "call")
        elif self.run is not None:
            self.run.phase = "call"
        try:
            result = yield
        finally:
            if not self.all_phases:
                self._stop(item)
        if not self.all_phases:
            self._check(item)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        if self.run is not None:
            self.run.name, self.run.phase = item.nodeid, "teardown"
        try:
            result = yield
        finally:
            if self.all_phases:
                self._stop(item)
            elif self.run is not None:
                self.run.phase = "between"
        try:
            if self.all_phases:
                self._check(item)
        finally:
            if _RECORDING in item.stash:
                del item.stash[_RECORDING]
        return result

    def _options(self, item: pytest.Item) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        for marker in item.iter_markers("backendperf"):  # closest first
            if marker.args:
                pytest.fail(
                    "@pytest.mark.backendperf takes keyword arguments only, e.g. "
                    "backendperf(max_queries=3)",
                    pytrace=False,
                )
            for key, value in marker.kwargs.items():
                if key not in _MARKER_ARGS:
                    pytest.fail(
                        f"@pytest.mark.backendperf: unknown argument {key!r}; use "
                        + ", ".join(_MARKER_ARGS),
                        pytrace=False,
                    )
                opts.setdefault(key, value)
        return opts

    def _check(self, item: pytest.Item) -> None:
        __tracebackhide__ = True
        recording = item.stash.get(_RECORDING, None)
        if recording is None:
            return
        opts = self._options(item)
        mode = opts.get("nplusone") or self.nplusone
        if mode == "ignore":
            mode = "off"
        if mode not in _NPLUSONE_MODES:
            pytest.fail(
                f"@pytest.mark.backendperf(nplusone={mode!r}): use 'fail', 'report' or 'ignore'",
                pytrace=False,
            )
        threshold = int(opts.get("nplusone_threshold") or self.threshold)
        everything = testing.QueryRecorder(recording, nplusone=threshold, ignore=self.ignore)
        budget = everything.filter(
            table=opts.get("table"),
            kind=opts.get("kind"),
            include_transaction=bool(opts.get("include_transaction", False)),
        )
        entries = budget._entries()  # filtered once, for every figure below
        count = len(entries)
        budget_problems = [
            problem
            for op, key in (("==", "num_queries"), ("<=", "max_queries"))
            if opts.get(key) is not None
            and (problem := testing.over_budget(op, opts[key], count)) is not None  # type: ignore[arg-type]
        ]
        total_ms = sum(e.record[1] for e in entries)
        if opts.get("max_time_ms") is not None and total_ms > opts["max_time_ms"]:
            budget_problems.append(
                f"{total_ms:.1f} ms of database time, over the budget of {opts['max_time_ms']} ms"
            )
        findings = everything.nplusone if mode != "off" else []
        fail_nplusone = mode == "fail" and bool(findings) and not self.report_only
        fail_budget = bool(budget_problems) and not self.report_only
        first_caller = next((e.record[6] for e in entries if e.record[6]), None)
        for problem in budget_problems:
            self.findings.append(
                _Finding("query-budget", item.nodeid, problem, first_caller, fail_budget)
            )
        for f in findings:
            self.findings.append(
                _Finding(
                    "nplusone", item.nodeid, testing.describe_nplusone(f), f.caller, fail_nplusone
                )
            )
        problems = list(budget_problems) if fail_budget else []
        if fail_nplusone:
            names = [f.relationship or f"{f.count} x one statement" for f in findings]
            problems.append(f"N+1 pattern{'s' if len(findings) > 1 else ''}: {', '.join(names)}")
        if not problems:
            return
        text = testing.budget_message(
            "backendperf: " + "; ".join(problems),
            budget if fail_budget else everything,
            verbose=self.config.get_verbosity() > 0,
            hint="run pytest with -v",
        )
        pytest.fail(text, pytrace=False)

    # -- end of session ---------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.workerid is not None:  # an xdist worker: send what it saw to the controller
            out = getattr(self.config, "workeroutput", None)
            if out is not None:
                out["backendperf"] = {
                    "run": self.run.to_json() if self.run is not None else None,
                    "findings": [_finding_json(f) for f in self.findings],
                }
            if self.run is not None:
                self.run.close()
            return
        if self.run is not None and self.run.sink is not None:
            self.run.sink.flush()
        if self.jsonl and self._controller():
            _merge_parts(Path(self.jsonl))
        if self.advise and self.run is not None:
            self._advise(session)
        if self.sarif:
            self._write_sarif()

    def merge_worker(self, data: dict[str, Any]) -> None:
        if data.get("run") and self.run is not None:
            self.run.merge(data["run"])
        self.findings.extend(_Finding(**f) for f in data.get("findings", ()))

    def _advise(self, session: pytest.Session) -> None:
        from backendperf._pytest_report import advise_run

        assert self.run is not None
        try:
            self.advice = advise_run(self.run, schema_file=self.schema or None)
        except Exception as exc:  # the advice is a report: never crash the session
            self.advice_error = f"{type(exc).__name__}: {exc}"
            return
        if self.advice is None:
            return
        if self.baseline:
            from backendperf.advisor.report import load_baseline

            try:
                known = load_baseline(self.baseline)
            except (OSError, ValueError) as exc:
                raise pytest.UsageError(f"--backendperf-baseline {self.baseline}: {exc}") from None
            for suggestion in self.advice.indexes:
                suggestion.known = suggestion.identity() in known
        if self.advise_json:
            Path(self.advise_json).write_text(self.advice.render_json(), encoding="utf-8")
        new = [s for s in self.advice.indexes if not s.known]
        failing = self.advice.indexes if self.advise_fail == "any" else new
        if self.advise_fail != "never" and failing and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _write_sarif(self) -> None:
        from backendperf._pytest_report import sarif

        Path(self.sarif).write_text(
            json.dumps(sarif(self.findings, self.advice, self.run), indent=2), encoding="utf-8"
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.workerid is not None:
            return
        tr = terminalreporter
        if self.report and self.run is not None:
            from backendperf._pytest_report import report_lines

            tr.write_sep("=", "backendperf: queries of this run")
            for line in report_lines(self.run, self.findings, verbose=tr.verbosity > 0):
                tr.write_line(line)
        elif self.findings and self.nplusone == "report":
            tr.write_sep("=", "backendperf: N+1 findings")
            for f in self.findings:
                tr.write_line(f"{f.nodeid}: {f.message}")
        if self.advise:
            tr.write_sep("=", "backendperf: index advice from the test suite")
            if self.advice_error:
                tr.write_line(f"the advisor failed: {self.advice_error}")
            elif self.advice is None:
                tr.write_line("no statements were recorded: nothing to advise")
            else:
                from backendperf._pytest_report import advice_lines

                for line in advice_lines(self.advice, self.advise_fail):
                    tr.write_line(line)


def _finding_json(f: _Finding) -> dict[str, Any]:
    return {name: getattr(f, name) for name in ("rule", "nodeid", "message", "location", "failed")}


def _merge_parts(path: Path) -> None:
    parts = sorted(path.parent.glob(path.name + ".*.part"))
    if not parts:
        return
    with path.open("ab") as out:
        for part in parts:
            out.write(part.read_bytes())
            part.unlink()


class _XdistHooks:
    """Registered only when pytest-xdist is installed (its hooks are unknown otherwise)."""

    def __init__(self, plugin: _Plugin) -> None:
        self.plugin = plugin

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get("backendperf")
        if data:
            self.plugin.merge_worker(data)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_DOC)
    plugin = _Plugin(config)
    config.stash[_PLUGIN] = plugin
    config.pluginmanager.register(plugin, "backendperf-session")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(plugin), "backendperf-xdist")


_PLUGIN = pytest.StashKey[_Plugin]()


# --------------------------------------------------------------------------------------------
# Fixtures


class AssertQueries(Protocol):
    """The type of ``backendperf_assert_num_queries`` / ``backendperf_assert_max_queries``."""

    def __call__(
        self,
        n: int,
        *,
        info: str | None = None,
        table: str | Sequence[str] | None = None,
        kind: Kind | Sequence[Kind] | None = None,
        engine: object | None = None,
        include_transaction: bool = False,
    ) -> AbstractContextManager[QueryRecorder]: ...


def _plugin(request: pytest.FixtureRequest) -> _Plugin:
    plugin = request.config.stash[_PLUGIN]
    plugin._activate()
    if plugin.missing:
        pytest.fail(plugin.missing, pytrace=False)
    return plugin


@pytest.fixture
def backendperf_queries(request: pytest.FixtureRequest) -> QueryRecorder:
    """The statements of this test's call phase so far (``.count``, ``.statements``,
    ``.by_fingerprint()``, ``.nplusone``, ``.filter(table=..., kind=...)``)."""
    plugin = _plugin(request)
    recording = request.node.stash.get(_RECORDING, None)
    if recording is None:  # activated by this very fixture, after the setup hook ran
        recording = request.node.stash[_RECORDING] = testing._Recording(
            request.node.nodeid, 100_000
        )
    return testing.QueryRecorder(recording, nplusone=plugin.threshold, ignore=plugin.ignore)


def _assert_fixture(
    request: pytest.FixtureRequest, op: str
) -> Callable[..., AbstractContextManager[QueryRecorder]]:
    _plugin(request)
    verbose = request.config.get_verbosity() > 0

    def check(
        n: int,
        *,
        info: str | None = None,
        table: str | Sequence[str] | None = None,
        kind: Kind | Sequence[Kind] | None = None,
        engine: object | None = None,
        include_transaction: bool = False,
    ) -> AbstractContextManager[QueryRecorder]:
        return testing._budget(
            op,  # type: ignore[arg-type]
            n,
            info=info,
            verbose=verbose,
            hint="run pytest with -v",
            table=table,
            kind=kind,
            engine=engine,
            include_transaction=include_transaction,
        )

    return check


@pytest.fixture
def backendperf_assert_num_queries(request: pytest.FixtureRequest) -> AssertQueries:
    """``with backendperf_assert_num_queries(3): ...`` fails unless the block runs exactly 3
    statements (filters: ``table=``, ``kind=``, ``engine=``, ``include_transaction=``)."""
    return _assert_fixture(request, "==")


@pytest.fixture
def backendperf_assert_max_queries(request: pytest.FixtureRequest) -> AssertQueries:
    """``with backendperf_assert_max_queries(3): ...`` fails if the block runs more than 3."""
    return _assert_fixture(request, "<=")

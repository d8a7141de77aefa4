"""The what-if pick: which suggestions (and which variant of each: covering, narrower)
make the final set, from the costs a :class:`Coster` gives. Independent of the database:
PostgreSQL's HypoPG / rolled-back costers implement :class:`Coster`."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Final, Protocol

from backendperf.advisor.candidates import MAX_COVER
from backendperf.advisor.report import human_size

if TYPE_CHECKING:
    from collections.abc import Mapping

    from backendperf.advisor.candidates import Candidate
    from backendperf.advisor.report import Advice, Suggestion

__all__ = ["MIN_GAIN", "Coster", "settle"]

MIN_GAIN = 0.01
"""A pick must cut the workload's estimated cost by at least this share."""
FILL: Final = 0.1
"""Under a size budget, the bytes the picks that save ``min_gain`` leave go to picks that
save at least this share of ``min_gain`` (by saving per byte, as Extend spends a budget)."""
MAX_KEY: Final = 3
"""The widest key the extension step builds (Kossmann et al. evaluate up to width 3)."""


class Coster(Protocol):
    """What the pick needs of a database: the estimated cost of every statement of the
    workload (cost x calls, by fingerprint) with ``indexes`` added to the ones it has, and
    the size of each index it was asked about (by its DDL). A statement it could not cost is
    left out of the result (it has no cost; 0 would read as "free"), with why in
    :attr:`failed`. Implemented by PostgreSQL's HypoPG and rolled-back what-if costers and
    by the offline model (:class:`~backendperf.advisor.whatif.offline.ModelCoster`)."""

    sizes: dict[str, int]
    failed: dict[str, str]
    """fingerprint -> why it could not be costed."""
    generic: set[str]
    """Fingerprints costed with a generic plan (no logged parameter values)."""

    def costs(self, indexes: list[Candidate]) -> dict[str, float]: ...

    def upkeep(self, candidate: Candidate) -> float:
        """What ``candidate`` adds to the workload's writes (part of :meth:`costs`)."""
        ...

    def served(self, candidate: Candidate) -> bool:
        """Whether an index the database has already gives ``candidate``'s access path (a
        variant that is only a copy of it is not tried)."""
        ...


def _slim(coster: Coster, chosen: list[Suggestion], current: dict[str, float]) -> dict[str, float]:
    """Drop INCLUDE columns that buy less than 1% of the workload's estimated cost: a
    covering index is larger, and every write pays for it."""
    for suggestion in chosen:
        candidate = suggestion.candidate
        if candidate is None or not candidate.include:
            continue
        slim = replace(candidate, include=())
        others = [c.candidate for c in chosen if c.candidate and c is not suggestion]
        trial = coster.costs([*others, slim])
        if sum(trial.values()) <= sum(current.values()) * (1 + MIN_GAIN):
            _narrow(suggestion, slim, f"it saved less than {MIN_GAIN:.0%} of the estimated cost")
            current = trial
    return current


class _Picker:
    """The greedy what-if pick within ``max_indexes`` and ``max_size`` (bytes, as the database
    sizes each index), by saving or, with ``per_byte``, by saving per byte among the picks
    that save ``min_gain`` (as the only order, per byte lost 3-4x at loose budgets:
    :func:`pick` runs both under a size budget and keeps the cheaper set). Under a size
    budget a suggestion may be taken smaller (:func:`_smaller`): the smallest variant that
    saves within ``MIN_GAIN`` of its best one, so bytes stay for other indexes. (Tried, and
    left out: widening a narrowed pick again with the bytes left at the end, which cannot
    pay 1% unless the picks interact; a swap pass after the greedy, trading a pick for
    another suggestion's variant, which moved the benchmark's budgeted costs by at most
    0.001 for 60% more what-if time; and, 2026-12-07, every other order of a 2-3 column key
    as a variant: the greedy took reorders that saved more at once and blocked better pairs
    later, 0.123 -> 0.133 on the OLTP benchmark. The benchmark's exhaustive search puts the
    rest in candidates this pick never sees, not in its order.)"""

    def __init__(
        self,
        coster: Coster,
        base: dict[str, float],
        max_indexes: int | None,
        max_size: int | None,
        min_gain: float = MIN_GAIN,
        *,
        per_byte: bool = False,
    ) -> None:
        self.coster = coster
        self.per_byte = per_byte
        self.max_indexes = max_indexes
        self.max_size = max_size
        self.min_gain = min_gain
        self.current = dict(base)
        self.chosen: list[Suggestion] = []
        self.taken: dict[int, Candidate] = {}  # id(suggestion) -> the variant in use
        self.over: dict[int, str] = {}  # id(suggestion) -> why the budget left it out
        self.filled: set[int] = set()  # id(suggestion) of each pick fill() took
        self.fill_saved = 0.0  # the share of the cost those picks saved together

    def size(self, candidate: Candidate) -> int:
        return self.coster.sizes.get(candidate.ddl("postgresql"), 0)

    def used(self, without: Suggestion | None = None) -> int:
        return sum(self.size(self.taken[id(s)]) for s in self.chosen if s is not without)

    def costs(self, extra: Candidate, without: Suggestion | None = None) -> dict[str, float]:
        others = [self.taken[id(s)] for s in self.chosen if s is not without]
        return self.coster.costs([*others, extra])

    def prune(self) -> None:
        """``min_gain`` applies to the result: while a pick saves less than it of the final
        set's estimated cost (an index taken early that later picks made useless, or that
        another's key now leads), the one that saves least goes. (A pick :meth:`fill` took
        need only save what it took it for.)"""
        while len(self.chosen) > 1:
            now = sum(self.current.values())
            worst: tuple[float, Suggestion, dict[str, float]] | None = None
            for suggestion in self.chosen:
                others = [self.taken[id(s)] for s in self.chosen if s is not suggestion]
                trial = self.coster.costs(others)
                need = self.min_gain * (FILL if id(suggestion) in self.filled else 1.0)
                loss = sum(trial.values()) - now
                if loss < need * now and (worst is None or loss < worst[0]):
                    worst = (loss, suggestion, trial)
            if worst is None:
                return
            _, suggestion, self.current = worst
            self.chosen.remove(suggestion)
            self.filled.discard(id(suggestion))
            self.over[id(suggestion)] = (
                f"with the indexes taken after it, it saves less than {self.min_gain:.0%} of "
                "the estimated cost"
            )

    def redundant(self, candidate: Candidate, without: Suggestion | None = None) -> bool:
        """Whether an index already taken (but ``without``'s) gives ``candidate``'s access
        path: the same index, or one its key leads (two suggestions can narrow to the same
        ``(p_size)``, or one to another's prefix)."""
        return any(_gives(self.taken[id(s)], candidate) for s in self.chosen if s is not without)

    def fits(self, candidate: Candidate, used: int) -> bool:
        size = self.coster.sizes.get(candidate.ddl("postgresql"))
        return self.max_size is None or size is None or used + size <= self.max_size

    def run(self, suggestions: list[Suggestion]) -> None:
        remaining = list(suggestions)
        while True:
            best: tuple[float, Suggestion, Candidate, dict[str, float]] | None = None
            total = sum(self.current.values()) or 1.0
            used = self.used()
            gains: dict[int, float] = {}
            for suggestion in remaining:
                assert suggestion.candidate is not None
                variants = [suggestion.candidate, *_wider(suggestion.candidate, suggestion.covers)]
                if self.max_size is not None:
                    variants += _smaller(suggestion.candidate)
                variants = [
                    v for v in variants if not self.coster.served(v) and not self.redundant(v)
                ]
                if not variants:
                    continue
                fits: list[tuple[float, int, Candidate, dict[str, float]]] = []
                for variant in variants:
                    trial = self.costs(variant)  # also sizes it
                    if self.fits(variant, used):
                        fits.append(
                            (total - sum(trial.values()), self.size(variant), variant, trial)
                        )
                if not fits:
                    if self.max_size is not None:  # the last round's figures are the ones told
                        smallest = min(self.size(v) for v in variants)
                        self.over[id(suggestion)] = (
                            f"does not fit in what is left of --max-size "
                            f"({human_size(max(self.max_size - used, 0))}; the database sizes "
                            f"it at {human_size(smallest)}"
                            + (", at its narrowest)" if len(variants) > 1 else ")")
                        )
                    continue
                self.over.pop(id(suggestion), None)
                top = gains[id(suggestion)] = max(f[0] for f in fits)
                if self.per_byte:  # the variant that saves most per byte, of those that pay
                    paying = [f for f in fits if f[0] >= self.min_gain * total]
                    if not paying:
                        continue
                    gain, _, variant, trial = max(paying, key=lambda f: f[0] / max(f[1], 1))
                    rank = gain / max(self.size(variant), 1)
                else:  # the smallest variant that saves within MIN_GAIN of its best one
                    gain, _, variant, trial = min(
                        (f for f in fits if f[0] >= top - MIN_GAIN * total), key=lambda f: f[1]
                    )
                    rank = gain
                if best is None or rank > best[0]:
                    best = (rank, suggestion, variant, trial)
            full = self.max_indexes is not None and len(self.chosen) >= self.max_indexes
            grow = self._extension(total, used)
            if best is not None and (total - sum(best[3].values())) / total < self.min_gain:
                best = None
            if best is not None and full:
                for suggestion in remaining:
                    if gains.get(id(suggestion), 0.0) / total >= self.min_gain:
                        self.over[id(suggestion)] = (
                            f"it pays, but --max-indexes {self.max_indexes} is reached"
                        )
                best = None
            if grow is not None and (best is None or grow[0] > best[0]):
                _, pick, variant, self.current = grow  # a chosen index, one column longer
                self.taken[id(pick)] = variant
                continue
            if best is None:
                break
            _, pick, variant, self.current = best
            self.chosen.append(pick)
            self.taken[id(pick)] = variant
            remaining.remove(pick)

    def fill(self, suggestions: list[Suggestion], min_gain: float) -> None:
        """After :meth:`run`: the bytes left under ``max_size`` go to the picks that save at
        least ``min_gain`` each, by saving per byte (and extensions of the picks taken)."""
        kept, per_byte = self.min_gain, self.per_byte
        before = {id(s) for s in self.chosen}
        start = sum(self.current.values())
        self.min_gain, self.per_byte = min_gain, True
        try:
            self.run([s for s in suggestions if id(s) not in before])
        finally:
            self.min_gain, self.per_byte = kept, per_byte
        self.filled = {id(s) for s in self.chosen} - before
        if self.filled and start:
            self.fill_saved = 1 - sum(self.current.values()) / start

    def _extension(
        self, total: float, used: int
    ) -> tuple[float, Suggestion, Candidate, dict[str, float]] | None:
        """Extend's extension step: the chosen index that, with one more key column its
        statements use (:func:`_longer`), saves the most (or, ``per_byte``, the most per
        byte added) and at least ``min_gain`` more; ``None`` when none does."""
        best: tuple[float, Suggestion, Candidate, dict[str, float]] | None = None
        for pick in self.chosen:
            taken = self.taken[id(pick)]
            for variant in _longer(taken, pick.keys):
                if self.coster.served(variant) or self.redundant(variant, pick):
                    continue
                trial = self.costs(variant, without=pick)
                if not self.fits(variant, used - self.size(taken)):
                    continue
                gain = total - sum(trial.values())
                if gain < self.min_gain * total:
                    continue
                rank = (
                    gain / max(self.size(variant) - self.size(taken), 1) if self.per_byte else gain
                )
                if best is None or rank > best[0]:
                    best = (rank, pick, variant, trial)
        return best

    def apply(self) -> None:
        """Make each pick the variant chosen for it, saying why (after :meth:`run`)."""
        for pick in self.chosen:
            if id(pick) in self.filled:
                pick.notes.append(
                    f"taken with the bytes --max-size left: it saves less than "
                    f"{self.min_gain:.0%} of the estimated cost (the indexes taken so save "
                    f"{self.fill_saved:.1%} of it together)"
                )
            variant = self.taken[id(pick)]
            whole = pick.candidate
            assert whole is not None
            if variant is whole:
                continue
            if variant.columns[: len(whole.columns)] == whole.columns and len(
                variant.columns
            ) > len(whole.columns):
                why = (
                    f"the longer key saves at least {self.min_gain:.0%} more of the estimated cost"
                )
            elif variant.columns == whole.columns and not set(variant.include) <= set(
                whole.include
            ):
                why = f"covering, it saves at least {MIN_GAIN:.0%} more of the estimated cost"
            elif not self.fits(whole, self.used(without=pick)):
                why = "the whole index does not fit in --max-size"
            else:
                why = f"what they add saves less than {MIN_GAIN:.0%} of the estimated cost"
                if self.max_size is not None:
                    why = f"under --max-size, {why}"

            _narrow(pick, variant, why)


def pick(
    coster: Coster,
    base: dict[str, float],
    suggestions: list[Suggestion],
    max_indexes: int | None,
    max_size: int | None,
    min_gain: float = MIN_GAIN,
) -> _Picker:
    """The what-if pick, applied to ``suggestions``. Under a size budget two greedy orders
    run and the set that costs less wins: by saving (the large index that removes the most
    cost first), and by saving per byte among the picks that pay ``min_gain`` (Extend's
    order: at a tight budget, three narrow indexes may beat one wide one). The second mostly
    re-uses the first's costs (the coster caches each statement per index subset). Then the
    bytes left go to what saves a :data:`FILL` share of ``min_gain`` (:meth:`_Picker.fill`),
    and ``min_gain`` is checked against the final set (:meth:`_Picker.prune`). (Tried, and
    left out, 2026-12-08: the per-byte order with the fill's threshold from the start, then
    the check, then the fill: TPC-H SF 0.1 at half the baseline's size 0.489 -> 0.649, as
    the check drops one by one small picks that only save together.)"""
    first = _Picker(coster, base, max_indexes, max_size, min_gain)
    first.run(suggestions)
    if max_size is not None:
        other = _Picker(coster, base, max_indexes, max_size, min_gain, per_byte=True)
        other.run(suggestions)
        if sum(other.current.values()) < sum(first.current.values()):
            first = other
        if min_gain > 0:
            first.fill(suggestions, min_gain * FILL)
    first.prune()
    first.apply()
    return first


def _gives(index: Candidate, candidate: Candidate) -> bool:
    """Whether ``index`` gives ``candidate``'s access path: same table and predicate, its key
    led by ``candidate``'s, and every INCLUDE column of ``candidate`` in it."""
    return (
        index.table == candidate.table
        and index.where == candidate.where
        and set(candidate.include) <= set(index.include)
        and candidate.is_prefix_of(index.columns, index.desc)
    )


def _wider(candidate: Candidate, covers: dict[str, tuple[str, ...]]) -> list[Candidate]:
    """Covering variants of ``candidate`` to cost: for each statement it serves that could
    read only the index, the INCLUDE list that makes it do so, and one list for all of them
    (up to ``MAX_COVER`` columns each). The offline list is a guess from the statements'
    times; the planner says which index-only scans pay (once the table is vacuumed: see
    :func:`_visibility`)."""
    if any("(" in c for c in candidate.columns):
        return []
    keys = set(candidate.columns)
    lists = {tuple(sorted(set(need) - keys)) for need in covers.values()}
    union = tuple(sorted(set().union(*covers.values()) - keys)) if covers else ()
    lists.add(union)
    lists = {x for x in lists if 0 < len(x) <= MAX_COVER and x != tuple(candidate.include)}
    return [replace(candidate, include=x) for x in sorted(lists, key=lambda x: (len(x), x))]


def _longer(candidate: Candidate, keys: tuple[str, ...]) -> list[Candidate]:
    """``candidate`` with one more key column of ``keys`` at the end (up to three key
    columns; not for expression indexes), the column leaving its INCLUDE list."""
    if len(candidate.columns) >= MAX_KEY or any("(" in c for c in candidate.columns):
        return []
    return [
        replace(
            candidate,
            columns=(*candidate.columns, column),
            desc=(*candidate.desc, False) if candidate.desc else (),
            include=tuple(c for c in candidate.include if c != column),
        )
        for column in keys
        if column not in candidate.columns
    ]


def _smaller(candidate: Candidate) -> list[Candidate]:
    """What a size budget may take instead of ``candidate``: it without its INCLUDE columns,
    then its leftmost key prefixes (a narrower index still serves the leading predicates).
    (Prefixes that cover one of the statements as well were tried: 0.001-0.002 lower costs
    on the benchmark, for twice the what-if time.)"""
    out = [replace(candidate, include=())] if candidate.include else []
    for n in range(len(candidate.columns) - 1, 0, -1):
        columns = candidate.columns[:n]
        out.append(
            replace(
                candidate,
                columns=columns,
                desc=candidate.desc[:n],
                include=(),
                pattern_ops=tuple(c for c in candidate.pattern_ops if c in columns),
            )
        )
    return out


_RESHAPED: Final = ("narrowed from (", "extended from (", "INCLUDE (")
"""How the notes :func:`_narrow` writes begin (no other note does)."""


def _narrow(suggestion: Suggestion, smaller: Candidate, why: str) -> None:
    """Make ``suggestion`` the ``smaller`` index (fewer key columns, other INCLUDE columns),
    saying why. The note compares it with the offline suggestion, so a second reshape (a
    covering list added by the pick, then dropped by :func:`_slim`) replaces the first."""
    old = suggestion.offline or suggestion.candidate
    assert old is not None
    suggestion.offline = old
    suggestion.candidate = smaller
    suggestion.columns = smaller.columns
    suggestion.desc = smaller.desc
    suggestion.include = smaller.include
    suggestion.ddl = smaller.ddl("postgresql")
    if suggestion.why is not None:
        suggestion.why = suggestion.why.for_index(smaller)
        suggestion.reason = str(suggestion.why)
    suggestion.notes = [n for n in suggestion.notes if not n.startswith(_RESHAPED)]
    dropped = []
    if smaller.columns != old.columns:
        verb = "extended" if len(smaller.columns) > len(old.columns) else "narrowed"
        dropped.append(f"{verb} from ({', '.join(old.columns)}) to ({', '.join(smaller.columns)})")
    lost = [c for c in old.include if c not in smaller.include]
    added = [c for c in smaller.include if c not in old.include]
    if lost:
        dropped.append(f"INCLUDE ({', '.join(lost)}) dropped")
    if added:
        dropped.append(f"INCLUDE ({', '.join(added)}) added")
    if dropped:  # else: back to the offline shape, nothing to say
        suggestion.notes.append(f"{' and '.join(dropped)}: {why}")


def settle(
    coster: Coster,
    method: str,
    advice: Advice,
    suggestions: list[Suggestion],
    budget: tuple[int | None, int | None, float],
    texts: Mapping[str, str],
) -> None:
    """Run the pick on ``suggestions`` with ``coster``'s costs and write the result into
    ``advice``: each suggestion's cost before and after and size, the ones left out (and
    why), the workload's cost before and after, and what bounded the pick. ``method``
    names the costs (``hypopg``, ``rollback``: a database's plans; ``model``: the offline
    model's estimates, which validate nothing)."""
    planned = method != "model"
    base = coster.costs([])
    picker = pick(coster, base, suggestions, *budget)
    chosen, current, over = picker.chosen, picker.current, picker.over
    current = _slim(coster, chosen, current)
    for suggestion in suggestions:
        mine = [f for f in suggestion.fingerprints if f in base]
        suggestion.method = method
        suggestion.cost_before = round(sum(base[f] for f in mine), 2)
        suggestion.cost_after = round(sum(current[f] for f in mine), 2)
        assert suggestion.candidate is not None
        suggestion.size_bytes = coster.sizes.get(suggestion.candidate.ddl("postgresql"))
        if suggestion in chosen and (upkeep := coster.upkeep(suggestion.candidate)):
            suggestion.notes.append(
                f"charged {upkeep:,.0f} for the rows the workload's INSERT/UPDATE/DELETE "
                "statements write into it"
                + (" (the plans leave index upkeep out)" if planned else "")
            )
        if not mine:
            suggestion.notes.append(
                "not validated: none of its statements could be EXPLAINed"
                if planned
                else "not estimated: none of its statements could be costed"
            )
            suggestion.method = "heuristic"
            suggestion.cost_before = suggestion.cost_after = None
        elif any(f in coster.generic for f in mine):
            suggestion.notes.append(
                "costed with generic plans where the log has no parameter values"
            )
    kept = [s for s in suggestions if s in chosen or s.method == "heuristic"]
    for suggestion in suggestions:
        if suggestion not in kept:
            why = over.get(
                id(suggestion),
                ("the planner does not use it" if planned else "the model does not use it")
                + f", or it cuts the estimated cost by less than {picker.min_gain:.0%}",
            )
            advice.drop(
                suggestion, f"{'what-if' if planned else 'cost model'} ({method}): {why}", texts
            )
    advice.indexes = [s for s in advice.indexes if s in kept or s.candidate is None]
    advice.summary["indexes"] = len(advice.indexes)
    for fingerprint, problem in coster.failed.items():
        advice.warnings.append(
            f"could not {'EXPLAIN' if planned else 'cost'} {fingerprint}: {problem}"
        )
    key = "validated" if planned else "estimated"
    if not base:  # nothing was costed: nothing is validated, whatever ran
        advice.warnings.append(
            f"not {key} ({method}): none of the statements could be "
            + ("EXPLAINed" if planned else "costed")
        )
        advice.summary[key] = None
        advice.summary["workload_cost_before"] = advice.summary["workload_cost_after"] = None
        return
    advice.summary[key] = method
    advice.summary["workload_cost_before"] = round(sum(base.values()), 2)
    advice.summary["workload_cost_after"] = round(sum(current.values()), 2)
    max_indexes, max_size, min_gain = budget
    advice.summary["budget"] = {  # what bound the pick: say which (no --max-size: what pays)
        "max_size": max_size,
        "max_indexes": max_indexes,
        "min_share": min_gain,
        "size_bytes": sum(
            coster.sizes.get(s.candidate.ddl("postgresql"), 0)
            for s in chosen
            if s.candidate is not None
        ),
    }

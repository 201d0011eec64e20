"""PostgreSQL's statistics of a column, as ANALYZE last counted them, for the lists that choose
how to read by them (the grams' estimates, the tag or status to walk, whether a view is common).

Reading ``pg_stats`` costs 11–14 ms at a million contacts, so each column's figures are kept per
database and read again after STATISTICS_SECONDS, by whichever request comes then: ANALYZE
itself runs far less often. Never read on SQLite (callers ask only on PostgreSQL).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from sqlalchemy import URL, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Text

STATISTICS_SECONDS = 600.0


@dataclass(frozen=True)
class ColumnStatistics:
    """A column's statistics: ``rows``, the table's rows (``reltuples``: 0 or less before it
    was first analysed); ``analysed``, whether there are any of the column's own; the share of
    NULL; the number of distinct values; the commonest values' shares; for an array column,
    its commonest elements' shares and the share of the least common one listed."""

    rows: float
    analysed: bool = False
    null_share: float = 0.0
    distinct: float = 0.0
    values: dict[str, float] | None = None
    elements: dict[str, float] | None = None
    least_element_share: float | None = None

    def rows_of(self, value: object) -> float:
        """The rows holding ``value``: its share among the commonest, or else the rest of the
        rows spread evenly over the other values."""
        common = self.values or {}
        share = common.get(str(value))
        if share is not None:
            return share * max(0.0, self.rows)
        rest = max(0.0, 1.0 - self.null_share - sum(common.values()))
        return rest / max(1.0, self.distinct - len(common)) * max(0.0, self.rows)


_STATISTICS = text(
    "SELECT w.t, w.a, c.reltuples, s.null_frac, s.n_distinct, "
    "s.most_common_vals::text::text[], s.most_common_freqs, "
    "s.most_common_elems::text::text[], s.most_common_elem_freqs "
    "FROM unnest(:tables, :columns) AS w(t, a) "
    "JOIN pg_class AS c ON c.relname = w.t AND c.relnamespace = current_schema()::regnamespace "
    "LEFT JOIN pg_stats AS s ON s.schemaname = current_schema() AND s.tablename = w.t "
    "AND s.attname = w.a"
).bindparams(bindparam("tables", type_=ARRAY(Text)), bindparam("columns", type_=ARRAY(Text)))

# (database, table, column) -> (read at, statistics)
_known: dict[tuple[str, str, str], tuple[float, ColumnStatistics]] = {}


def clear() -> None:
    """Forget every column's statistics (a test that wiped or analysed its database)."""
    _known.clear()


@cache
def _database(url: URL) -> str:
    """The key of a database's statistics (rendering its URL at each search cost 0.05 ms)."""
    return url.render_as_string(hide_password=True)


async def columns(
    db: AsyncSession, wanted: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], ColumnStatistics]:
    """The statistics of each (table, column), those not read within STATISTICS_SECONDS read in
    one statement. A table that does not exist is left out."""
    database = _database(db.get_bind().engine.url)
    now = time.monotonic()
    found: dict[tuple[str, str], ColumnStatistics] = {}
    stale: list[tuple[str, str]] = []
    for table, column in wanted:
        known = _known.get((database, table, column))
        if known is not None and now - known[0] <= STATISTICS_SECONDS:
            found[(table, column)] = known[1]
        else:
            stale.append((table, column))
    if not stale:
        return found
    tables, names = [table for table, _ in stale], [column for _, column in stale]
    for row in await db.execute(_STATISTICS, {"tables": tables, "columns": names}):
        table, column, rows, nulls, distinct, values, freqs, elements, element_freqs = row
        rows = float(rows or 0.0)
        read = ColumnStatistics(rows=rows)
        if nulls is not None:
            # n_distinct: a count, or (negative) a share of the rows.
            distinct = float(distinct or 0.0)
            shares = dict(zip(elements or [], element_freqs or [], strict=False))
            # The element frequencies end with three more: the least and the greatest listed,
            # and the share of NULL.
            tail = element_freqs is not None and len(element_freqs) == len(elements or []) + 3
            read = ColumnStatistics(
                rows=rows,
                analysed=True,
                null_share=float(nulls),
                distinct=-distinct * max(0.0, rows) if distinct < 0 else distinct,
                values=dict(zip(values or [], freqs or [], strict=True)),
                elements=shares if tail else {},
                least_element_share=element_freqs[len(shares)] if tail else None,
            )
        _known[(database, table, column)] = (now, read)
        found[(table, column)] = read
    return found

"""Finding tickets by what they say: number, subject, client and every message.

``matching(session, query)`` is a SELECT of the ids of the tickets whose number is
the query (``T-000123`` or ``#123`` is only that; a bare ``123`` is words too), or
whose subject, client (name or any address) or any message (public, internal note
or system line) holds every word of it. Words are runs of letters and digits; each
of two characters or more matches as a prefix (``pres`` finds "pressure"), without
regard to case.

The database's own full-text index answers (migration ``0012_operator_tools``):

- SQLite: FTS5 tables ``tickets_fts``, ``messages_fts``, ``contacts_fts``,
  ``identities_fts`` over those columns, kept by triggers in the same transaction
  as the row they index.
- PostgreSQL: a stored generated ``tsvector`` column ``words`` on each of those
  tables (``to_tsvector('simple', ...)``, punctuation made a word break first, as
  FTS5's tokenizer does) under a GIN index, computed by the statement that writes
  the row.

``find(session, among, query, offset, limit)`` is what a list asks: one page of
the tickets of ``among`` (a filtered SELECT of tickets) that the query finds, newest
first, and how many there are:

- a selective query (a code, a name, a number: what search is mostly for) takes
  every match from the index, then the page; the total is exact. SQLite takes every
  query this way (its index reads a common word's whole list at each lookup, so
  checking ticket by ticket would cost more);
- on PostgreSQL, a query the planner expects to match more than ``BROAD`` rows (a
  common word, in thousands of messages) walks the tickets newest first, checking
  each one's rows, and stops at the page's end: it costs about as much as the page,
  not as everything it matches. Its total is estimated from how densely the
  matches lie among the tickets walked (``exact`` false: "about 98,000"), unless
  the walk reached the oldest ticket.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Select, column, func, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement, TextClause
from sqlalchemy.sql.selectable import TextualSelect

from core.errors import NotFound
from core.models import Ticket
from core.tickets.lookup import parse_number

WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 8
BROAD = 5_000  # PostgreSQL: a query expected to match more rows walks the tickets

_POSTGRES = """
SELECT t.id FROM tickets t WHERE t.words @@ to_tsquery('simple', :words)
UNION SELECT m.ticket_id FROM messages m WHERE m.words @@ to_tsquery('simple', :words)
UNION SELECT t.id FROM tickets t WHERE t.contact_id IN (
  SELECT c.id FROM contacts c WHERE c.words @@ to_tsquery('simple', :words)
  UNION SELECT i.contact_id FROM identities i WHERE i.words @@ to_tsquery('simple', :words))
"""

_SQLITE = """
SELECT rowid FROM tickets_fts WHERE tickets_fts MATCH :words
UNION SELECT m.ticket_id FROM messages m
 WHERE m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH :words)
UNION SELECT t.id FROM tickets t WHERE t.contact_id IN (
  SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH :words
  UNION SELECT i.contact_id FROM identities i
   WHERE i.id IN (SELECT rowid FROM identities_fts WHERE identities_fts MATCH :words))
"""


# How many rows (tickets, messages, clients) hold the words, as PostgreSQL's planner
# estimates it from the index's statistics, without running it.
_PROBE = """EXPLAIN (FORMAT JSON)
SELECT 1 FROM tickets t WHERE t.words @@ to_tsquery('simple', :words)
UNION ALL SELECT 1 FROM messages m WHERE m.words @@ to_tsquery('simple', :words)
UNION ALL SELECT 1 FROM contacts c WHERE c.words @@ to_tsquery('simple', :words)
UNION ALL SELECT 1 FROM identities i WHERE i.words @@ to_tsquery('simple', :words)
"""

# Whether the words are in the ticket of the outer query (``tickets``): each part a
# lookup by that ticket's id or client, then a check of that row's words. OFFSET 0
# keeps each EXISTS a lookup per ticket; without it the planner may hash every match
# first, which is what walking is for avoiding.
_EACH = """(
  tickets.words @@ to_tsquery('simple', :words)
  OR EXISTS (SELECT 1 FROM messages m
             WHERE m.ticket_id = tickets.id AND m.words @@ to_tsquery('simple', :words)
             OFFSET 0)
  OR EXISTS (SELECT 1 FROM contacts c
             WHERE c.id = tickets.contact_id AND c.words @@ to_tsquery('simple', :words)
             OFFSET 0)
  OR EXISTS (SELECT 1 FROM identities i
             WHERE i.contact_id = tickets.contact_id AND i.words @@ to_tsquery('simple', :words)
             OFFSET 0))"""


@dataclass(frozen=True)
class Found:
    """One page of what a search found: ticket ids newest first, and the total
    (``exact`` false when it is the database's estimate)."""

    ids: list[int]
    total: int
    exact: bool = True


def find(session: Session, among: Select[Any], query: str, offset: int, limit: int) -> Found:
    """The page ``[offset, offset + limit)`` of the tickets of ``among`` that ``query``
    finds, newest first, with their total (see the module's notes)."""
    matches = matching(session, query)
    if matches is None:
        return Found([], 0)
    dialect = session.get_bind().dialect.name
    number, found_words = _parts(query)
    terms = _terms(dialect, found_words)
    found = among.where(Ticket.id.in_(matches)).with_only_columns(Ticket.id)
    if dialect != "postgresql" or not terms or _probe(session, terms) <= BROAD:
        ids = list(session.execute(found.order_by(Ticket.id.desc())).scalars())
        return Found(ids[offset : offset + limit], len(ids))
    each: ColumnElement[bool] | TextClause = text(_EACH).bindparams(words=terms)
    if number is not None:  # a bare 123: ticket 123 as well as the words
        each = or_(Ticket.id == number, each)
    walk = among.where(each).with_only_columns(Ticket.id).order_by(Ticket.id.desc())
    page = list(session.execute(walk.offset(offset).limit(limit)).scalars())
    if len(page) < limit and (page or not offset):
        return Found(page, offset + len(page))  # the walk reached the oldest ticket
    sample = page or list(session.execute(walk.limit(limit)).scalars())
    return Found(page, _estimate(session, among, sample, offset if page else 0), exact=False)


def _estimate(session: Session, among: Select[Any], sample: list[int], skipped: int) -> int:
    """How many tickets of ``among`` a broad query finds, from how densely they lie
    among the newest: ``skipped`` + ``len(sample)`` found in the tickets walked down
    to the sample's oldest, scaled to all of ``among``."""

    found = skipped + len(sample)
    walked = session.execute(
        select(func.count()).select_from(
            among.where(Ticket.id >= min(sample)).with_only_columns(Ticket.id).subquery()
        )
    ).scalar_one()
    everything = among.with_only_columns(Ticket.id)  # estimated by the planner: no scan
    sql = str(everything.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    total = _rows(session.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql).scalar_one())
    return max(found, round(found * total / max(int(walked), 1)))


def _rows(plan: Any) -> int:
    """The rows PostgreSQL's planner expects, from ``EXPLAIN (FORMAT JSON)``."""
    return int((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"])


def _terms(dialect: str, found: list[str]) -> str:
    """The words as the full-text index's query language writes them (every word,
    each of two characters or more as a prefix)."""
    if not found:
        return ""
    if dialect == "postgresql":
        return " & ".join(w + (":*" if len(w) > 1 else "") for w in found)
    return " AND ".join(f'"{w}"' + ("*" if len(w) > 1 else "") for w in found)


def _probe(session: Session, terms: str) -> int:
    return _rows(session.execute(text(_PROBE).bindparams(words=terms)).scalar_one())


def _parts(query: str) -> tuple[int | None, list[str]]:
    """The ticket number a query names, and the words it searches for: ``T-000123``
    or ``#123`` is only a number; a bare ``123`` may also be words of a message."""
    try:
        number: int | None = parse_number(query)
    except NotFound:
        number = None
    return number, [] if number is not None and not query.strip().isdigit() else words(query)


def words(query: str) -> list[str]:
    """The words of a query, lower case, at most ``MAX_WORDS``."""
    return WORD.findall(query.lower())[:MAX_WORDS]


def matching(session: Session, query: str) -> TextualSelect | None:
    """A SELECT of the ids of the tickets ``query`` finds; None when it has no word
    and names no ticket number."""
    number, found = _parts(query)
    parts = []
    params: dict[str, object] = {}
    if found:
        dialect = session.get_bind().dialect.name
        params["words"] = _terms(dialect, found)
        parts.append(_POSTGRES if dialect == "postgresql" else _SQLITE)
    if number is not None:
        params["number"] = number
        parts.append("SELECT CAST(:number AS BIGINT)")
    if not parts:
        return None
    return text(" UNION ".join(parts)).bindparams(**params).columns(column("id", Integer))

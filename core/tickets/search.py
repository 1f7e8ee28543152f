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
"""

from __future__ import annotations

import re

from sqlalchemy import Integer, column, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TextualSelect

from core.errors import NotFound
from core.tickets.lookup import parse_number

WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 8

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


def words(query: str) -> list[str]:
    """The words of a query, lower case, at most ``MAX_WORDS``."""
    return WORD.findall(query.lower())[:MAX_WORDS]


def matching(session: Session, query: str) -> TextualSelect | None:
    """A SELECT of the ids of the tickets ``query`` finds; None when it has no word
    and names no ticket number."""
    try:
        number: int | None = parse_number(query)
    except NotFound:
        number = None
    # T-000123 or #123 is only a number; a bare 123 may also be words of a message.
    found = [] if number is not None and not query.strip().isdigit() else words(query)
    parts = []
    params: dict[str, object] = {}
    if found:
        if session.get_bind().dialect.name == "postgresql":
            params["words"] = " & ".join(w + (":*" if len(w) > 1 else "") for w in found)
            parts.append(_POSTGRES)
        else:
            params["words"] = " AND ".join(f'"{w}"' + ("*" if len(w) > 1 else "") for w in found)
            parts.append(_SQLITE)
    if number is not None:
        params["number"] = number
        parts.append("SELECT CAST(:number AS BIGINT)")
    if not parts:
        return None
    return text(" UNION ".join(parts)).bindparams(**params).columns(column("id", Integer))

"""Separate the new text of a reply from the quoted history and the sign-off.

Mail clients introduce the quoted history in many ways and languages; we look,
top to bottom, for the first of:

- a separator line, decorated or not ("-----Original Message-----",
  "-------- Message d'origine --------", "*** Original Message ***", "原始邮件");
- a header block: two or more header lines ("From:", "Sent:", "Von:", "发件人:",
  ...) starting with a sender or date line, as Outlook, webmail providers (date
  first: GMX, Web.de) and mobile apps write it;
- an attribution over one to four lines: "On <date>, <name> wrote:" and its forms
  in many languages and orders (date first, name first, "---- ... wrote ----"),
  or any line ending in ':' that names an address and a date or time;
- '>'-quoted lines running to the end, with the line that introduces them.

A reply written under the quote (bottom-posted) keeps the text above the quote
and below it; a reply answering between quoted lines keeps everything. A forward
keeps its content. Then the sign-off is trimmed (channels/email/signoff.py). The
full original is always kept with the inbound record; this is what agents see.
"""

from __future__ import annotations

import re

from channels.email.signoff import trim_signoff

_PHRASES = (
    r"original message|original e-?mail|reply message|ursprüngliche nachricht|originalnachricht|"
    r"message d'origine|message original|mensaje original|messaggio originale|mensagem original|"
    r"oorspronkelijk bericht|origineel bericht|ursprungligt meddelande|originalmeddelande|"
    r"oprindelig meddelelse|oprindelig besked|opprinnelig melding|alkuperäinen viesti|"
    r"oryginalna wiadomość|wiadomość oryginalna|původní zpráva|původní e-mail|pôvodná správa|"
    r"исходное сообщение|оригинальное сообщение|оригінальне повідомлення|вихідне повідомлення|"
    r"orijinal mesaj|özgün ileti|eredeti üzenet|eredeti levél|mesaj original|mesajul original|"
    r"αρχικό μήνυμα|元のメッセージ|原始邮件|原始郵件|원본 메시지|izvorna poruka|originalna poruka|"
    r"tin nhắn gốc|pesan asli"
)
SEPARATOR_RE = re.compile(
    rf"^[\s>]*(?:[-=_*~]{{2,}}|\*+)?\s*(?:{_PHRASES})\s*:?\s*(?:[-=_*~]{{2,}}|\*+)?\s*$",
    re.IGNORECASE,
)
UNDERSCORES_RE = re.compile(r"^\s*_{20,}\s*$")
FORWARD_RE = re.compile(
    r"^[\s>]*(?:-{2,}\s*(?:forwarded message|weitergeleitete nachricht|message transféré|"
    r"mensaje reenviado|messaggio inoltrato|mensagem encaminhada|doorgestuurd bericht|"
    r"vidarebefordrat meddelande|videresendt meddelelse|пересылаемое сообщение)|"
    r"begin forwarded message:|début du message réexpédié|anfang der weitergeleiteten nachricht)",
    re.IGNORECASE,
)

_FROM = (
    r"from|von|de|da|van|från|fra|od|от|від|lähettäjä|kimden|feladó|de la|από|差出人|发件人|寄件者|"
    r"보낸 사람|message du"
)
_DATE = (
    r"sent|date|gesendet|datum|envoyé|enviado(?: el| em)?|enviada em|fecha|inviato|data|verzonden|"
    r"skickat|sendt|dato|lähetetty|päivämäärä|wysłano|odesláno|odoslané|отправлено|дата|надіслано|"
    r"gönderildi|tarih|elküldve|dátum|trimis|στάλθηκε|ημερομηνία|送信日時|日付|发送时间|日期|"
    r"보낸 날짜|날짜|poslano"
)
_OTHER = (
    r"to|an|à|a|para|aan|till|til|do|komu|кому|vastaanottaja|kime|címzett|către|προς|宛先|收件人|"
    r"받는 사람|prima|cc|kopie|copie à|reply-to|subject|betreff|objet|asunto|assunto|oggetto|ogg|"
    r"onderwerp|ämne|emne|aihe|temat|předmět|predmet|тема|konu|tárgy|subiect|θέμα|件名|主题|제목|sujet"
)
_LABEL = r"^[\s>]*[*_]{0,2}(?:%s)[*_]{0,2}\s*[:：][*_]{0,2}"
FROM_RE = re.compile(_LABEL % _FROM, re.IGNORECASE)
DATE_RE = re.compile(_LABEL % _DATE, re.IGNORECASE)
LABEL_RE = re.compile(_LABEL % f"{_FROM}|{_DATE}|{_OTHER}", re.IGNORECASE)

_VERBS = (
    r"wrote|writes|sent|schrieb|geschrieben|a écrit|écrit|escribió|escreveu|ha scritto|scrisse|"
    r"skrev|skriver|schreef|geschreven|kirjoitti|napisał\(a\)|napisała|napisał|napisal\(a\)|napsal\(a\)|"
    r"napsal|napísal\(a\)|napísal|pisze|написал\(а\)|написала|написал|пишет|пише|писал|написа|"
    r"şunu yazdı|şunları yazdı|yazdı|ezt írta|a következőt írta|írta|a scris|έγραψε|写道|寫道|작성|"
    r"님이 작성|đã viết|menulis|kirjutas|rašė|rakstīja|va escriure|napisao je|napisala je|"
    r"wrote on|schrieb am|quoting|zitat von|のメッセージ|のメール|書きました"
)
VERB_RE = re.compile(rf"(?:{_VERBS})", re.IGNORECASE)
ATTRIBUTION_END_RE = re.compile(
    rf"(?:(?:{_VERBS})\s*[:：]?|[:：])\s*(?:-{{2,}})?\s*$|^\s*-{{2,}}.*(?:{_VERBS}).*-{{2,}}\s*$",
    re.IGNORECASE,
)
MESSAGE_DU_RE = re.compile(r"^[\s>]*message du\b.*\d", re.IGNORECASE)  # Orange and SFR webmail
# the first line of an attribution wrapped over several: a date, an address, or an opening word
OPENING_RE = re.compile(
    r"\d|@|<|^\s*(?:on|le|am|el|em|il|op|den|på|w dniu|dnia|dne|pe|vào|pada|στις)\b|^\s*-{2,}",
    re.IGNORECASE,
)
OPENER_RE = re.compile(r"^\s*(?:on|le|am|el|em|il|op|den|på)\s.*\d", re.IGNORECASE)
ADDRESS_RE = re.compile(r"(?<![\w.+'-])[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
QUOTING_START_RE = re.compile(r"^\s*(?:quoting|zitat von|\*)\s.*[:：]\s*$", re.IGNORECASE)


def _is_attribution(chunk: str) -> bool:
    """One to four joined lines that introduce quoted history."""
    if len(chunk) > 400 or not ATTRIBUTION_END_RE.search(chunk):
        return False
    has_date = bool(re.search(r"\d", chunk))
    has_address = bool(ADDRESS_RE.search(chunk))
    if VERB_RE.search(chunk):
        return has_date or has_address or bool(re.match(r"\s*-{2,}", chunk))
    return chunk.rstrip().endswith((":", "：")) and has_date and has_address


def _header_block(lines: list[str], i: int, *, lone_sender: bool = True) -> bool:
    """A block of mail headers starts at line i (a sender or date line, then more headers;
    with ``lone_sender``, a "From:" line with an address below the first line is one)."""
    line = lines[i]
    if len(line) > 400 or not (
        FROM_RE.match(line) or DATE_RE.match(line) or MESSAGE_DU_RE.match(line)
    ):
        return False
    labels = 0
    for n in lines[i + 1 : i + 7]:
        if not n.strip():
            break
        labels += bool(LABEL_RE.match(n))
    if labels >= 1:
        return True
    return lone_sender and bool(FROM_RE.match(line) and ADDRESS_RE.search(line) and i > 0)


def _attribution_at(lines: list[str], i: int) -> int:
    """How many lines (1-4) an attribution starting at line i spans; 0 if none does."""
    first = lines[i]
    if len(first) > 400:
        return 0  # also keeps the address search below linear on long lines
    for span in (1, 2, 3, 4, 5):
        part = lines[i : i + span]
        if len(part) < span:
            return 0
        if span > 1 and (
            not OPENING_RE.search(first)
            or (re.search(r"[.!?]\s*$", first) and not ADDRESS_RE.search(first))
        ):
            return 0  # a line of the reply, not the start of a wrapped attribution
        if not part[-1].strip():
            if OPENER_RE.match(first):
                continue  # some mailers leave a blank line inside "On <date> <name> ... wrote:"
            return 0
        chunk = " ".join(s.strip() for s in part if s.strip())
        if _is_attribution(chunk):
            return span
    return 0


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _history_break(lines: list[str], i: int, *, lone_sender: bool = True) -> bool:
    """Unquoted history starts at line i: a separator line, or a block of headers."""
    stripped = lines[i].strip()
    if SEPARATOR_RE.match(stripped) and re.search(r"\w", stripped):
        return True
    if UNDERSCORES_RE.match(stripped) and any(
        FROM_RE.match(n) or DATE_RE.match(n) for n in lines[i + 1 : i + 3]
    ):
        return True
    return _header_block(lines, i, lone_sender=lone_sender)


def _quote_start(lines: list[str]) -> tuple[int, int, bool] | None:
    """(first line of quoted history, first line after its introduction, whether it is
    '>'-quoted history that the writer may answer below), or None."""
    quoted_to_end = [False] * (len(lines) + 1)  # from line i on, only '>' lines and blanks
    quoted_to_end[len(lines)] = True
    for j in range(len(lines) - 1, -1, -1):
        quoted_to_end[j] = quoted_to_end[j + 1] and (not lines[j].strip() or _quoted(lines[j]))
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if FORWARD_RE.match(stripped):
            return None  # a forward: the "quoted" part is the content
        if _history_break(lines, i):
            return i, i + 1, False
        span = _attribution_at(lines, i)
        if span:
            return i, i + span, True
        if _quoted(line) and quoted_to_end[i]:
            return _introduced(lines, i), i, True
    return None


def _introduced(lines: list[str], quote: int) -> int:
    """A quote running to the end may be introduced by a line just above it."""
    j = quote - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j >= 0 and quote - j <= 2 and len(lines[j]) < 300:
        above = lines[j].strip()
        if (above.endswith((":", "：")) and (re.search(r"\d", above) or "@" in above)) or (
            ADDRESS_RE.search(above) and re.search(r"\d", above)
        ):
            return j
    return quote


def _after_quote(lines: list[str], start: int) -> int | None:
    """Where the writer's own text resumes under a '>' quote that begins at ``start``."""
    k = start
    while k < len(lines) and not lines[k].strip():
        k += 1
    if k >= len(lines) or not _quoted(lines[k]):
        return None  # the history is not '>'-quoted: nothing to tell apart below it
    while k < len(lines) and (
        not lines[k].strip() or _quoted(lines[k]) or _wrapped(lines[k - 1], lines[k])
    ):
        k += 1
    return k if k < len(lines) else None


def _wrapped(previous: str, line: str) -> bool:
    """An unquoted line that continues a long quoted one (mailers rewrap without '>')."""
    return _quoted(previous) and len(previous) >= 60 and bool(line.strip())


def _drop_rules_above(lines: list[str]) -> list[str]:
    while lines and (not lines[-1].strip() or re.match(r"^\s*(?:[*_=~-]\s*){3,}$", lines[-1])):
        lines = lines[:-1]
    return lines


def new_lines(lines: list[str]) -> list[str]:
    """The lines the writer added: above the quoted history, and below a '>' quote."""
    found = _quote_start(lines)
    if found is None:
        return lines
    cut, body, answerable = found
    above = _drop_rules_above(lines[:cut])
    below = _after_quote(lines, body) if answerable else None
    if below is None:
        return above if any(line.strip() for line in above) else lines
    rest = lines[below:]
    if any(_quoted(line) for line in rest):
        return lines  # answers written between quoted lines: the quotes are their questions
    return above + ([""] if above else []) + new_lines(rest)


def forwards(text: str) -> bool:
    """The text forwards a message (a forward marker comes before any quoted history)."""
    lines = (text or "").replace("\r\n", "\n").split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if FORWARD_RE.match(line.strip()):
            return True
        # Each line is looked at once, as the first line of what it may open (a lone
        # "From:" line with an address does not end the search).
        if _history_break(lines, i, lone_sender=False) or _attribution_at(lines, i):
            return False
    return False


def visible_text(text: str, sender_name: str = "") -> str:
    """The new part of a message: no quoted history, no sign-off."""
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept = trim_signoff(new_lines(lines), sender_name)
    result = "\n".join(kept).strip()
    return result if result else (text or "").strip()

"""Separate the new text of a reply from the quoted history and the signature.

Mail clients mark the start of the quoted part in different ways and languages:
an attribution line ("On Mon, 3 Jun 2024, Ana <a@x> wrote:", "Le ... a écrit :"),
an Outlook header block ("From: ... Sent: ..."), a separator ("-----Original
Message-----"), or lines starting with ">". We cut at the earliest of these, then
drop a trailing signature ("-- " and the "Sent from my phone" lines). The full
original is always kept with the inbound record; this is only what agents see first.
"""

from __future__ import annotations

import re

# "On <date>, <name> wrote:" in many languages; may be wrapped over up to three lines.
_ATTRIBUTION = [
    r"On\b.{0,300}?\bwrote\s*:",
    r"Le\b.{0,300}?a\s+[ée]crit\s*:",
    r"Am\b.{0,300}?schrieb.{0,120}?:",
    r"El\b.{0,300}?escribi[óo]\s*:",
    r"Em\b.{0,300}?escreveu\s*:",
    r"Il\b.{0,300}?ha\s+scritto\s*:",
    r"Op\b.{0,300}?schreef.{0,120}?:",
    r"(?:Den|På)\b.{0,300}?skrev.{0,120}?:",
    r"W\s+dniu\b.{0,300}?(?:napisa[łl](?:\(a\))?|pisze)\s*:",
    r".{0,300}?(?:писал(?:\(а\)|а)?|пишет)\s*:",
    r".{0,300}?写道\s*[:：]",
    r".{0,300}?のメッセージ\s*[:：]|.{0,300}?書きました\s*[:：]",
    r".{0,200}?<[^>\s]+@[^>\s]+>\s*(?:wrote|escribió|a écrit|schrieb|ha scritto|escreveu)?\s*[:：]",
]
ATTRIBUTION_RE = re.compile(
    r"^\s*(?:" + "|".join(_ATTRIBUTION) + r")\s*$", re.IGNORECASE | re.DOTALL
)

SEPARATOR_RE = re.compile(
    r"^\s*(?:-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original|"
    r"Messaggio originale|Oorspronkelijk bericht|Originalmeddelande|Mensagem original|Wiadomość oryginalna|"
    r"Исходное сообщение|Původní zpráva)\s*-{2,}|_{20,})\s*$",
    re.IGNORECASE,
)
FORWARD_RE = re.compile(
    r"^\s*-{2,}\s*(?:Forwarded message|Weitergeleitete Nachricht|Message transféré|Mensaje reenviado|Messaggio inoltrato)\s*-{2,}",
    re.IGNORECASE,
)

_FROM = r"(?:From|Von|De|Da|Van|Från|Od|От|Fra|Lähettäjä|差出人|发件人)"
_SENT = r"(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado|Enviada|Fecha|Inviato|Data|Verzonden|Skickat|Wysłano|Отправлено|Sendt|Lähetetty|送信日時|发送时间|To|An|À|Para|A|Aan|Till|Do|Кому|Subject|Betreff|Objet|Asunto|Oggetto|Onderwerp|Ämne|Temat|Тема)"
HEADER_FROM_RE = re.compile(rf"^\s*\*?{_FROM}\s*\*?\s*:\s*\S", re.IGNORECASE)
HEADER_NEXT_RE = re.compile(rf"^\s*\*?{_SENT}\s*\*?\s*:", re.IGNORECASE)

RULE_RE = re.compile(r"^\s*(?:[*_=-]\s*){3,}$")
SIGNATURE_RE = re.compile(
    r"^\s*(?:--\s*|"
    r"Sent from my .{1,40}|Sent with Proton Mail.{0,40}|Sent from Proton Mail.{0,40}|Sent from Mail for Windows.*|Sent from Outlook.*|Get Outlook for .{1,20}|Sent from Yahoo Mail.*|"
    r"Envoyé de mon .{1,40}|Envoyé depuis .{1,60}|Von meinem .{1,40} gesendet|Gesendet von .{1,40}|"
    r"Obtener Outlook para .{1,20}|Outlook für .{1,20} beziehen|Télécharger Outlook pour .{1,20}|"
    r"Enviado desde mi .{1,40}|Enviado do meu .{1,40}|Inviato da .{1,40}|Verzonden vanaf .{1,40}|Skickat från .{1,40}|"
    r"Отправлено с .{1,40}|iPhoneから送信|发自我的.{1,20})\s*$",
    re.IGNORECASE,
)


def _quote_start(lines: list[str]) -> int | None:
    """Index of the first line of quoted history, or None."""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if FORWARD_RE.match(stripped):
            return None  # a forward: the "quoted" part is the content
        if SEPARATOR_RE.match(stripped):
            return i
        if HEADER_FROM_RE.match(stripped) and any(
            HEADER_NEXT_RE.match(n) for n in lines[i + 1 : i + 4]
        ):
            return i
        if stripped.startswith(">") and all(
            not n.strip() or n.lstrip().startswith(">") for n in lines[i:]
        ):
            return _attribution_above(lines, i)
        for span in (1, 2, 3):
            if len(stripped) > 400:
                break
            part = lines[i : i + span]
            if len(part) < span or any(not s.strip() for s in part):
                break
            chunk = " ".join(s.strip() for s in part)
            if (
                len(chunk) <= 400
                and ATTRIBUTION_RE.match(chunk)
                and chunk.rstrip().endswith((":", "："))
            ):
                return i
    return None


def _attribution_above(lines: list[str], quote: int) -> int:
    """A quote running to the end, introduced by a line ending in ':' (any language)."""
    j = quote - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if (
        j >= 0
        and lines[j].rstrip().endswith((":", "："))
        and len(lines[j]) < 300
        and (re.search(r"\d", lines[j]) or "@" in lines[j])
    ):
        return j
    return quote


def visible_text(text: str) -> str:
    """The new part of a message: no quoted history, no trailing signature."""
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = _quote_start(lines)
    if cut is not None:
        lines = lines[:cut]
        while lines and (not lines[-1].strip() or RULE_RE.match(lines[-1])):
            lines.pop()  # blank lines and a drawn rule just above the quote
    for i in range(len(lines) - 1, -1, -1):  # the last signature marker in what is left
        if SIGNATURE_RE.match(lines[i]):
            if i > 0 and any(line.strip() for line in lines[:i]):
                lines = lines[:i]
            break
    result = "\n".join(lines).strip()
    return result if result else (text or "").strip()

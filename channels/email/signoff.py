"""Trim the sign-off from the end of the new text of a reply.

A sign-off is what people and their mail apps put under the words that matter:
a signature after a delimiter ("-- ", a drawn rule), a closing formula with a name
(and a title, a company, a phone number), a short dash or slash name ("-Ana",
"/B", "— Ana"), the writer's own name on its own, and app footers ("Sent from
my iPhone", "Get Outlook for Android"). These are cut from the bottom up, again
and again, as long as what is cut looks like a signature: a few short lines with
no sentence in them. What is left always keeps at least one line.
"""

from __future__ import annotations

import re

# Closing formulas, whole lines; a trailing comma, full stop, exclamation mark or emoji is allowed.
_CLOSINGS = (
    r"(?:best|kind|warm|many|warmest|kindest)?\s*(?:regards|wishes)|regards|best|cheers|thanks|thank you|"
    r"many thanks|thanks (?:again|a lot|so much)|thx|ta|sincerely|yours(?: sincerely| truly)?|br|kr|"
    r"thanks (?:&|and) (?:best )?regards|all the best|take care|have a (?:nice|good|great) (?:day|weekend)|"
    r"mit freundlichen gr(?:ü|ue)(?:ß|ss)en|freundliche gr(?:ü|ue)(?:ß|ss)e|viele gr(?:ü|ue)(?:ß|ss)e|"
    r"beste gr(?:ü|ue)(?:ß|ss)e|liebe gr(?:ü|ue)(?:ß|ss)e|sch(?:ö|oe)ne gr(?:ü|ue)(?:ß|ss)e|gr(?:ü|ue)(?:ß|ss)e|"
    r"gru(?:ß|ss)|mfg|lg|vg|danke|vielen dank|"
    r"cordialement|bien (?:à|a) vous|bien cordialement|salutations|sinc(?:è|e)res salutations|merci|"
    r"bonne (?:journée|journee|soirée|soiree)|"
    r"saludos(?: cordiales)?|un saludo|atentamente|gracias|muchas gracias|un abrazo|"
    r"cordiali saluti|distinti saluti|saluti|grazie|un saluto|"
    r"atenciosamente|abraços|abracos|obrigad[oa]|cumprimentos|"
    r"met vriendelijke groet(?:en)?|vriendelijke groet(?:en)?|groet(?:en|jes)?|mvg|bedankt|"
    r"med vänliga hälsningar|vänliga hälsningar|hälsningar|mvh|tack|"
    r"med venlig hilsen|venlig hilsen|hilsen|vh|kh|mvh|tak|"
    r"med vennlig hilsen|vennlig hilsen|"
    r"ystävällisin terveisin|terveisin|kiitos|"
    r"pozdrawiam(?: serdecznie)?|z poważaniem|dziękuję|"
    r"s pozdravem|se srdečným pozdravem|děkuji|"
    r"с уважением|спасибо|всего доброго|з повагою|дякую|"
    r"saygılarımla|teşekkürler|"
    r"üdvözlettel|udvozlettel|üdv|udv|tisztelettel|köszönöm|"
    r"cu stimă|cu stima|mulțumesc|"
    r"με εκτίμηση|ευχαριστώ|"
    r"lijep pozdrav|srdačan pozdrav|pozdrav|"
    r"trân trọng|salam|terima kasih|"
    r"よろしくお願いいたします|よろしくお願いします|宜しくお願い致します|以上、?よろしくお願いします|"
    r"谢谢|此致|敬礼|감사합니다"
)
CLOSING_RE = re.compile(
    rf"^\s*(?:{_CLOSINGS})(?:\s*/\s*(?:{_CLOSINGS}))?\s*[,.!:;。！~]*\s*[\W_]{{0,4}}\s*$",
    re.IGNORECASE,
)
# App and device footers: they end the new text wherever they stand.
FOOTER_RE = re.compile(
    r"^\s*(?:"
    r"(?:sent|envoyé|enviado|inviato|verzonden|verstuurd|skickat|sendt|lähetetty|wysłane|odesláno|"
    r"отправлено|надіслано|poslano|trimis|gửi|dikirim|στάλθηκε|gesendet)\s+"
    r"(?:from|with|using|via|von|de|depuis|desde|do|da|dal|dalla|vanaf|met|från|fra|z|ze|с|з|s|de pe|từ|dari|από)\b.{1,60}|"
    r"von meinem .{1,40} gesendet|"
    r"(?:get|download) outlook for .{1,30}|outlook für .{1,30} (?:herunterladen|beziehen)|"
    r"télécharger outlook pour .{1,30}|obtener outlook para .{1,30}|scarica outlook per .{1,30}|"
    r"iphoneから送信|.{1,20}から送信|发自我的.{1,20}|從我的.{1,20}傳送|.{1,20}에서 보냄|"
    r"iphone'umdan gönderildi|iphone-ról küldve|lähetetty iphonesta|"
    r"sent with proton mail.{0,40}|sent from proton mail.{0,40}|sent from mail for windows.*"
    r")(?:\s*<[^>\s]+>)?\s*$",
    re.IGNORECASE,
)
# Footers of phones and apps: they end the new text even when the mailer put the old text under them.
DEVICE_RE = re.compile(
    r"iphone|ipad|android|galaxy|samsung|mobile|outlook|yahoo|blackberry|huawei|xiaomi|typeapp|"
    r"proton|smartphone|tablet|gmail|aol|spark|bluemail|windows",
    re.IGNORECASE,
)
DELIMITER_RE = re.compile(r"^\s*(?:--\s*|[-_=~*—–]{3,}\s*|—\s*)$")
DASH_NAME_RE = re.compile(r"^\s*(?:[-/]\w|[—–~]\s*\w)[^.!?:;]{0,40}$")


DISCLAIMER_RE = re.compile(
    r"intended (?:solely )?for the (?:use|addressee)|intended recipient|confidential|privileged|"
    r"if you have received this (?:e-?mail|message|communication) in error|disclaimer|"
    r"vertraulich|nicht der (?:richtige|beabsichtigte) (?:adressat|empfänger)|"
    r"destinataire|confidentiel|confidencial|destinatario|riservat",
    re.IGNORECASE,
)


def _last_paragraph(lines: list[str]) -> int:
    """Where the last paragraph (after a blank line or a drawn rule) of ``lines`` starts."""
    i = len(lines) - 1
    while i > 0 and lines[i - 1].strip() and not DELIMITER_RE.match(lines[i - 1]):
        i -= 1
    while i > 0 and (not lines[i - 1].strip() or DELIMITER_RE.match(lines[i - 1])):
        i -= 1  # the blank lines and rules above it go with it
    return i


def _is_signature(lines: list[str]) -> bool:
    """Lines that look like a signature: few, short, no sentences."""
    kept = [line.strip() for line in lines if line.strip()]
    if len(kept) > 8:
        return False
    return all(
        len(line) <= 80 and not re.search(r"[a-zà-ÿ]{2,}[.?!]\s*$", line, re.IGNORECASE)
        for line in kept
    )


def _names(sender_name: str) -> list[str]:
    """The sender's full name and first name, as they sign."""
    cleaned = re.sub(r"[\"'()]", " ", sender_name or "").strip()
    if "," in cleaned:  # "Smith, Jim"
        last, _, first = cleaned.partition(",")
        cleaned = f"{first.strip()} {last.strip()}"
    words = [w for w in cleaned.split() if "@" not in w]
    if not words:
        return []
    names = [" ".join(words), words[0]]
    return [n for n in names if len(n) >= 2]


def _signed_by(line: str, names: list[str]) -> bool:
    stripped = line.strip().strip("*_")
    return any(
        stripped == name or re.match(rf"{re.escape(name)}\b", stripped)
        for name in names
        if len(stripped) <= 60
    )


def trim_signoff(lines: list[str], sender_name: str = "") -> list[str]:
    """``lines`` without the sign-off at their end (never emptied)."""
    names = _names(sender_name)
    changed, rounds = True, 0
    while changed and rounds < 12:  # a sign-off has a few parts, not thousands
        changed, rounds = False, rounds + 1
        while lines and not lines[-1].strip():
            lines = lines[:-1]
        content = [i for i, line in enumerate(lines) if line.strip()]
        if len(content) < 2:
            return lines
        first = content[0]
        tail = content[-16:]
        for i in tail:  # an app footer: cut from it on
            if (
                i > first
                and FOOTER_RE.match(lines[i])
                and (DEVICE_RE.search(lines[i]) or _is_signature(lines[i:]))
            ):
                lines, changed = lines[:i], True
                break
        if changed:
            continue
        for i in tail:  # a delimiter with a signature under it
            if i > first and DELIMITER_RE.match(lines[i]) and _is_signature(lines[i + 1 :]):
                above = i - 1 if i - 1 > first and CLOSING_RE.match(lines[i - 1]) else i
                lines, changed = lines[:above], True  # "Thanks," right above the rule goes too
                break
        if changed:
            continue
        paragraph = _last_paragraph(lines)
        if paragraph > first and DISCLAIMER_RE.search(" ".join(lines[paragraph:])):
            lines, changed = lines[:paragraph], True  # a legal notice under the signature
            continue
        for i in tail:  # a closing formula, with at least a name under it
            if (
                i > first
                and CLOSING_RE.match(lines[i])
                and any(line.strip() for line in lines[i + 1 :])
                and (_is_signature(lines[i + 1 :]) or DELIMITER_RE.match(lines[i + 1]))
            ):
                lines, changed = lines[:i], True
                break
        if changed:
            continue
        last = content[-1]
        if last > first and DASH_NAME_RE.match(lines[last]) and len(lines[last].split()) <= 4:
            lines, changed = lines[:last], True
            continue
        for i in tail:  # the writer's own name, maybe with a title and contact lines
            if i > first and _signed_by(lines[i], names) and _is_signature(lines[i:]):
                lines, changed = lines[:i], True
                break
    return lines

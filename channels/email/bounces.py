"""Delivery reports: is this mail a bounce or a delay warning, who failed, and for good?

Two kinds of evidence, strongest first:

1. A standard delivery status notification (RFC 3464): a ``message/delivery-status``
   part, with ``Action`` and ``Status`` per recipient. ``failed`` is a bounce
   (``5.x.x`` permanent, ``4.x.x`` temporary), ``delayed`` only a warning, and
   ``delivered``/``relayed``/``expanded`` a success notice.
2. The plain-text notices many MTAs and providers still send (qmail, Exim,
   Exchange, Lotus Domino, GroupWise, Yahoo, ..., in many languages, some under a
   "Re:" subject): a robot or null sender, or a notice phrase in the subject,
   together with a notice phrase in the text or the returned original attached.
   Failed recipients then come from the notice's own lines (before the returned
   original) and, beside them, from flufl.bounce, whose per-MTA detectors find
   addresses in layouts no single pattern covers.

``read`` returns a ``Report`` or None; parse.py turns it into the neutral
``DeliveryReport`` on the ``Inbound``.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message

from flufl.bounce import all_failures

# Its detectors log a traceback each time one trips over malformed mail (and go on
# with the others); our own rules still read the notice, so those are noise.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

SUCCESS_ACTIONS = {"delivered", "relayed", "expanded"}

ROBOT_SENDER = re.compile(
    r"^(mailer[ ._-]?daemon|postmaster|mail[ ._-]?daemon|mail[ ._-]?delivery([ ._-]?(sub)?system)?|"
    r"mail[ ._-]?admin|mail[ ._-]?(router|gateway)|smtp[ ._-]?gateway|mmdf|"
    r"(mail )?delivery (status|service|system))([+._@-].*)?$",
    re.IGNORECASE,
)

# Subjects of non-delivery notices, in the languages MTAs localise them to.
FAILURE_SUBJECT = re.compile(
    r"undeliver|undelivered|not (been )?delivered|delivery (status notification|failure|failed|problem|notification)|"
    r"mail delivery (failed|system|problem)|returned mail|failure notice|non[- ]?delivery|"
    r"(could not|cannot|can't|couldn't) be delivered|delivery report|message status|returned to sender|"
    r"nondeliverable|mail error|failed mail|delivery error|"
    r"unzustellbar|nicht zugestellt|zustellung fehlgeschlagen|non remis|non distribu|"
    r"impossible de remettre|no se puede entregar|no entregado|não entregue|mancata consegna|"
    r"non recapitabile|onbestelbaar|niet afgeleverd|olevererbar|ikke levert|kan ikke leveres|"
    r"toimitus epäonnistui|nie dostarczono|niedostarczon|nedoručiteln|не доставлен|недоставлен|"
    r"配信不能|配信失敗|退信|未送达|投递失败|전송 실패|teslim edilemedi",
    re.IGNORECASE,
)
DELAY_SUBJECT = re.compile(
    r"\bdelay(ed)?\b|not yet been delivered|still being retried|warning: message|delivery warning|"
    r"delivery status notification \(delay\)|verzögert|retardé|retrasad",
    re.IGNORECASE,
)

# Phrases in the text of a notice, per MTA family (never in a person's reply).
NOTICE_TEXT = re.compile(
    r"this is the qmail-send program|this message was created automatically by mail delivery software|"
    r"i'm sorry to have to inform you that your message could not|"
    r"your (mail|message) (could not|cannot|can't) be delivered|"
    r"(could not|cannot|can't|couldn't) be delivered to (one or more|the following)|"
    r"(mail|message) (could not|cannot) be delivered|maximum delivery attempts|"
    r"was not delivered to|the following addresses? (had|has) (permanent fatal errors|failed)|"
    r"following address(\(es\)|es)? failed|transcript of session follows|"
    r"delivery to the following recipients? (failed|has been delayed)|"
    r"delivery has failed to these recipients|did not reach (some or all of )?the intended recipients?|"
    r"your message did not reach|message you sent could not be delivered|"
    r"unable to deliver (your )?message|sorry,? we were unable to deliver|"
    r"permanent (fatal )?error|delivery failed|undeliverable|returned mail|user unknown|"
    r"no such (user|mailbox|recipient)|mailbox (is )?(unavailable|full|not found)|recipient address rejected|"
    r"address not found|invalid recipient|unknown (user|recipient)|quota exceeded|over quota|"
    r"not a valid (user|recipient|mailbox|address)|"
    r"the message that you sent was not delivered|message could not be delivered|"
    r"remote host said|host .* said: [45]\d\d|smtp error from remote|"
    r"konnte nicht zugestellt werden|nicht zugestellt|n'a pas pu être (remis|distribué)|"
    r"no se (ha )?pudo entregar|não pôde ser entregue|non è stato possibile consegnare|"
    r"kon niet worden afgeleverd|kunde inte levereras|ei voitu toimittaa|"
    r"nie (mógł|może) zostać dostarczon|nie można dostarczyć|не может быть доставлен|не доставлено|"
    r"配信できませんでした|無法傳遞|无法投递|退回",
    re.IGNORECASE,
)
DELAY_TEXT = re.compile(
    r"has not yet been delivered|not been delivered for|will (continue|keep) trying|"
    r"still trying|this is (only )?a warning|you do not need to resend|"
    r"delivery to the following recipients? has been delayed|"
    r"message (is )?delayed|will retry|i'll keep trying|temporarily deferred",
    re.IGNORECASE,
)
# Boilerplate only an MTA writes: with it, a notice needs no robot sender.
MTA_TEXT = re.compile(
    r"this is the qmail-send program|this message was created automatically by mail delivery software|"
    r"transcript of session follows|permanent fatal errors|following address(\(es\)|es)? failed|"
    r"delivery has failed to these recipients|did not reach (some or all of )?the intended recipients?|"
    r"remote (host|server) said|host \S+ \[[\d.]+\] said|smtp error from remote|"
    r"\b5\.\d{1,3}\.\d{1,3}\b|^\s*<[^>\s]+@[^>\s]+>:\s|smtp error code|failed recipients|"
    r"non-delivery report|(could not|cannot|can't) be delivered to\b[^@]{0,80}@",
    re.IGNORECASE | re.MULTILINE,
)
PERMANENT_TEXT = re.compile(
    r"permanent (fatal )?error|permanently|i've given up|giving up|failed permanently|"
    r"\b5\d\d[ -]|\b5\.\d{1,3}\.\d{1,3}\b",
    re.IGNORECASE,
)
TEMPORARY_TEXT = re.compile(r"\b4\.\d{1,3}\.\d{1,3}\b|temporar|\b4[25]\d[ -]", re.IGNORECASE)

# Where the returned original starts in a notice's text: addresses after it are not failures.
ORIGINAL_STARTS = re.compile(
    r"^\s*(-+\s*)?(original message|this is a copy of|below this line is a copy|"
    r"a copy of the original message|unsent message below|the original message|"
    r"original message follows|returned message|--- below|message headers follow|"
    r"headers of your message|----- original|your message reads|copy of the original)|"
    r"^(Received|Return-Path|Message-ID|From|Date|Subject):",
    re.IGNORECASE | re.MULTILINE,
)
# Bounded (RFC 5321: 64 for the local part, 63 a label), and never starting inside a
# run of such characters: unbounded, a 100 kB line took seconds (quadratic).
ADDRESS = re.compile(
    r"(?<![A-Za-z0-9._%+=/'!#$&*?^`{|}~-])[A-Za-z0-9._%+=/'!#$&*?^`{|}~-]{1,64}"
    r"@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}"
)
STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
NOT_RECIPIENTS = re.compile(r"^(mailer-?daemon|postmaster|root|abuse|noreply|no-reply)@", re.I)


@dataclass(frozen=True)
class Failure:
    address: str
    permanent: bool
    status: str = ""  # the enhanced status code (5.1.1), when the notice gives one
    diagnostic: str = ""


@dataclass(frozen=True)
class Report:
    """What a delivery report says. ``kind`` is ``bounce``, ``delay`` or ``success``."""

    kind: str
    failures: tuple[Failure, ...]
    how: str  # which evidence decided: "dsn", or "notice"
    permanent: bool = True  # the notice as a whole reads as a permanent failure


def _text_of(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    raw = part.get_payload()
    if isinstance(raw, list):
        return "\n\n".join(_flat(m) if isinstance(m, Message) else str(m) for m in raw)
    return raw if isinstance(raw, str) else ""


def _flat(part: Message) -> str:
    """A part as text, even when its declared charset cannot hold what it carries."""
    try:
        return part.as_string()
    except (UnicodeError, LookupError):
        return part.as_bytes().decode("utf-8", errors="replace")


def _field_blocks(part: Message) -> list[dict[str, str]]:
    """The header blocks of a delivery-status part (per message, then per recipient)."""
    text = _text_of(part)
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\r?\n\s*\r?\n", text):
        fields: dict[str, str] = {}
        name = ""
        for line in chunk.splitlines():
            if line[:1] in (" ", "\t") and name:
                fields[name] += " " + line.strip()
                continue
            key, sep, value = line.partition(":")
            if sep and key.strip() and " " not in key.strip():
                name = key.strip().lower()
                fields[name] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def _address(value: str) -> str:
    """The address of a DSN recipient field (``rfc822; user@host``)."""
    found = ADDRESS.search(value.partition(";")[2] or value)
    if found:
        return found.group(0).strip(".").lower()
    bare = (value.partition(";")[2] or value).strip().strip("<>")
    return bare.lower() if re.fullmatch(r"[^@\s]+@[^@\s]+", bare) else ""


def _from_dsn(reports: list[Message]) -> Report | None:
    failures: list[Failure] = []
    delayed: list[Failure] = []
    succeeded = 0
    for part in reports:
        for fields in _field_blocks(part):
            # The original recipient is the address we wrote to; the final one may be
            # an internal alias of it.
            address = _address(fields.get("original-recipient", "")) or _address(
                fields.get("final-recipient", "")
            )
            action = fields.get("action", "").split()[0].lower() if fields.get("action") else ""
            if not address and not action:
                continue
            status_match = STATUS.search(fields.get("status", ""))
            status = status_match.group(0) if status_match else ""
            diagnostic = fields.get("diagnostic-code", "")[:500]
            if action in SUCCESS_ACTIONS:
                succeeded += 1
            elif action == "delayed" or (not action and status.startswith("4")):
                delayed.append(Failure(address, False, status, diagnostic))
            elif address:
                permanent = not status.startswith("4")
                failures.append(Failure(address, permanent, status, diagnostic))
    if failures:
        unique = tuple(_unique(failures))
        return Report("bounce", unique, "dsn", any(f.permanent for f in unique))
    if delayed:
        return Report("delay", tuple(_unique(delayed)), "dsn", False)
    if succeeded:
        return Report("success", (), "dsn")
    return None


def _unique(failures: list[Failure]) -> list[Failure]:
    seen: dict[str, Failure] = {}
    for failure in failures:
        if failure.address and failure.address not in seen:
            seen[failure.address] = failure
    return list(seen.values())


def _notice_part(text: str) -> str:
    """The notice itself, without the returned original that follows it."""
    match = ORIGINAL_STARTS.search(text, 40)
    return text[: match.start()] if match else text


def _addresses_in_notice(notice: str, exclude: set[str]) -> list[str]:
    found = []
    for match in ADDRESS.finditer(notice):
        address = match.group(0).strip(".'\"").lower()
        if address in exclude or NOT_RECIPIENTS.match(address) or address in found:
            continue
        found.append(address)
    return found


LINE_LIMIT = 998  # RFC 5322's longest line; flufl.bounce's patterns grow quadratic beyond it


def _bounded(msg: Message) -> Message:
    """msg, or a copy whose body lines are cut at LINE_LIMIT characters.

    flufl.bounce's heuristic detectors search every body line with patterns that
    backtrack along the line: one 100,000-character line cost 28 s of CPU. No delivery
    notice needs a longer line to be read, so the detectors see at most that much."""
    if not any(
        isinstance(p := part.get_payload(), str) and any(len(s) > LINE_LIMIT for s in p.split("\n"))
        for part in msg.walk()
    ):
        return msg
    bounded = copy.deepcopy(msg)
    for part in bounded.walk():
        payload = part.get_payload()
        if isinstance(payload, str):
            part.set_payload("\n".join(s[:LINE_LIMIT] for s in payload.split("\n")))
    return bounded


def _flufl(msg: Message) -> tuple[set[str], set[str]]:
    try:
        temporary, permanent = all_failures(_bounded(msg))
    except Exception:  # its detectors on malformed mail: our own rules still stand
        return set(), set()

    def norm(values: Iterable[bytes | str]) -> set[str]:
        return {
            (v.decode("utf-8", "replace") if isinstance(v, bytes) else v).strip("<>").lower()
            for v in values
            if v and "@" in (v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
        }

    return norm(temporary), norm(permanent)


def read(
    msg: Message,
    reports: list[Message],
    *,
    sender: str,
    sender_name: str,
    null_sender: bool,
    subject: str,
    text: str,
    returned_original: bool,
    exclude: set[str],
) -> Report | None:
    """The delivery report this message is, or None when it is not one.

    ``reports``: its delivery-status, returned-message and returned-headers parts;
    ``text``: its readable text; ``returned_original``: a returned message or its
    headers are attached; ``exclude``: addresses that are never failed recipients
    (the notice's own sender and recipients).
    """
    if msg.get_param("report-type", "") == "feedback-report":
        return None  # an abuse report: automatic, but no delivery failed
    statuses = [
        p
        for p in reports
        if p.get_content_type() in ("message/delivery-status", "message/global-delivery-status")
    ]
    if statuses:
        found = _from_dsn(statuses)
        if found is not None:
            return found
    local = sender.partition("@")[0]
    robot = (
        bool(ROBOT_SENDER.match(local) or ROBOT_SENDER.match(sender_name.strip())) or null_sender
    )
    is_report = msg.get_content_type() == "multipart/report" and msg.get_param(
        "report-type", "delivery-status"
    ) in ("delivery-status", "global-delivery-status")
    notice = _notice_part(text)
    returned_original = returned_original or bool(
        re.search(r"^Received: (from|by) \S+", text[len(notice) :], re.MULTILINE)
    )
    subject_says = bool(FAILURE_SUBJECT.search(subject) or DELAY_SUBJECT.search(subject))
    text_says = bool(NOTICE_TEXT.search(notice) or DELAY_TEXT.search(notice))
    if not (
        (robot and (subject_says or text_says or returned_original or is_report))
        or (
            text_says
            and (returned_original or (subject_says and MTA_TEXT.search(notice)))
            and not _person_forward(subject)
        )
        or is_report
    ):
        return None
    delay = bool(
        DELAY_TEXT.search(notice) or DELAY_SUBJECT.search(subject)
    ) and not PERMANENT_TEXT.search(notice)
    temporary, permanent = _flufl(msg)
    own = _addresses_in_notice(notice, exclude)
    if permanent | temporary:  # flufl.bounce's per-MTA detectors read addresses best
        own = [a for a in own if a in permanent | temporary]
    permanent_notice = bool(PERMANENT_TEXT.search(notice)) or not TEMPORARY_TEXT.search(notice)
    failures: list[Failure] = []
    for address in own:
        status_match = STATUS.search(notice[notice.lower().find(address) :][:400])
        status = status_match.group(0) if status_match else ""
        is_permanent = (
            status.startswith("5")
            if status
            else (address in permanent or (address not in temporary and permanent_notice))
        )
        failures.append(Failure(address, is_permanent and not delay, status))
    for address in sorted(permanent | temporary):
        if address not in own and address not in exclude:
            failures.append(Failure(address, address in permanent and not delay))
    if delay:
        return Report("delay", tuple(_unique(failures)), "notice", False)
    return Report("bounce", tuple(_unique(failures)), "notice", permanent_notice)


def _person_forward(subject: str) -> bool:
    return bool(re.match(r"^\s*(fwd?|fw|wg|tr|rv|i)\s*:", subject, re.IGNORECASE))

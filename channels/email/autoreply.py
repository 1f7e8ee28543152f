"""Robots and mail nothing automatic may answer: two different questions.

``robot`` says the mail was written by a machine answering mail (an out-of-office,
a vacation notice, a ticket system's acknowledgement, a read receipt, our own mail
come back): it never opens a ticket and never gets an answer.

``no_auto_answer`` says only that RFC 3834 forbids answering it automatically:
``Precedence: bulk/junk/list``, ``List-Id``/``List-Unsubscribe``, ``X-Loop``, or
Microsoft's ``X-Auto-Response-Suppress`` on a new message. A person may well have
written it (through a mailing list, or a mailer that marks everything bulk): it
opens or continues a ticket like any other mail, without an acknowledgement.

Exchange and Outlook mark their out-of-office replies with their own headers, often
under the original subject: ``X-MS-Exchange-Inbox-Rules-Loop`` (a mailbox rule
answered), ``X-MS-Exchange-Generated-Message-Source`` (an Exchange agent wrote it),
and ``X-Auto-Response-Suppress: All``/``OOF`` on a reply (Outlook asks that nothing
answer its own automatic reply; a person's reply never carries it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from channels.email import ids

# Out-of-office and auto-reply subjects: the prefixes mailers put before the original
# subject (with a colon), in the languages they localise them to, and a few suffixes.
AUTOREPLY_SUBJECT = re.compile(
    r"^\s*(re:\s*)?\[?("
    r"auto(matic|matische|matisch|matiskt|matisk|maattinen|matická|matikus|matyczna|mática|matica|"
    r"matique)?[- ]?(reply|response|answer|antwort|antwoord|svar|vastaus|odpověď|válasz|"
    r"odpowied[zź]|respuesta|resposta|risposta|réponse)?|"
    r"r[ée]ponse automatique|respuesta autom[aá]tica|resposta autom[aá]tica|risposta automatica|"
    r"automatisches? antwort|automatisch antwoord|automatiskt svar|automatisk svar|"
    r"automaattinen vastaus|odpowied[zź] automatyczna|automatyczna odpowied[zź]|"
    r"automatick[áa] odpov[ěe]d[ʹ']?|automatick[áa] odpove[ďd]|autom[āa]tisk[āa]? atbilde|"
    r"automatinis atsakymas|automaatne vastus|samodejni odgovor|automatski odgovor|"
    r"автоматичен отговор|sjálfvirkt svar|"
    r"automatikus v[áa]lasz|r[ăa]spuns automat|автоматический ответ|автоматична відповідь|"
    r"otomatik yan[ıi]t|αυτόματη απάντηση|自動応答|自动回复|自動回覆|자동 회신|자동 응답|"
    r"out of (the )?office|abwesenheit(snotiz)?|absence( du bureau)?|afwezig(heid)?|"
    r"fuera de la oficina|fuori ufficio|fora do escrit[óo]rio|fr[åa]nvarande|poza biurem|"
    r"vacation|on vacation|urlaub|cong[ée]s?|vacaciones|ferie|lomalla|отпуск"
    r")\s*(\]|[:：])|\((auto(matic)?[- ]?(reply|response))\)\s*$|\bautoreply:",
    re.IGNORECASE,
)
# Localised "automatic reply" phrases some clients put after other words (Outlook in
# Latvian: "Ārpus biroja atrašanās automātiskā atbilde: ...").
AUTOREPLY_PHRASE = re.compile(
    r"^.{0,60}?\b(automatic reply|auto-reply|autom[āa]tisk[āa] atbilde|automatinis atsakymas|"
    r"automaatne vastus|automatische antwort|réponse automatique|respuesta automática|"
    r"risposta automatica|resposta automática|automatisch antwoord)\s*[:：\]]",
    re.IGNORECASE,
)
ROBOT_LOCALS = re.compile(
    r"^(mailer-?daemon|postmaster|no-?reply|do-?not-?reply|bounces?|mail-daemon)([+._-].*)?$",
    re.IGNORECASE,
)
SUPPRESS_ANSWERS = {"all", "oof", "autoreply"}
# Challenge-response filters (Bluebottle, Boxbe, SpamArrest, ...) ask the sender to prove
# they are a person before the mail is delivered: a robot asking, never a person.
CHALLENGE_TEXT = re.compile(
    r"(have|get) your (e-?mail )?address added to (the|my|his|her|their) (recipient's )?"
    r"(allowed|approved|white|safe)[- ]?(senders? )?list|"
    r"(verify|confirm) (that )?you are (a (real )?(person|human)|not a (robot|spammer))|"
    r"protected by (bluebottle|boxbe|spamarrest|mailblocks|sendio)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Signals:
    robot: str = ""  # why a machine wrote it, or ""
    no_auto_answer: str = ""  # why nothing automatic may answer it, or ""
    list_id: str = ""


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _has(msg: Message, name: str) -> bool:
    return msg.get(name) is not None


def classify(
    msg: Message, *, sender: str, subject: str, text: str, null_sender: bool, is_reply: bool
) -> Signals:
    """The loop-safety signals of one message (its headers, subject and opening text)."""
    list_id = _header(msg, "List-Id")
    no_answer = _no_auto_answer(msg, list_id, is_reply)
    robot = _robot(msg, sender=sender, subject=subject, null_sender=null_sender, is_reply=is_reply)
    if not robot and CHALLENGE_TEXT.search(text[:3000]):
        robot = "challenge-response filter"
    return Signals(robot=robot, no_auto_answer=no_answer or robot, list_id=list_id[:300])


def _robot(msg: Message, *, sender: str, subject: str, null_sender: bool, is_reply: bool) -> str:
    if ids.OUR_ID_RE.search(_header(msg, "Message-ID")):
        return "our own outbound message came back"
    auto = _header(msg, "Auto-Submitted").lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto}"
    if _header(msg, "Precedence").lower() == "auto_reply":
        return "Precedence: auto_reply"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Apple-Auto-Reply"):
        if _has(msg, name):
            return f"{name} header"
    if _has(msg, "X-MS-Exchange-Inbox-Rules-Loop"):
        return "Exchange mailbox rule reply (X-MS-Exchange-Inbox-Rules-Loop)"
    source = _header(msg, "X-MS-Exchange-Generated-Message-Source")
    if source:
        return f"written by Exchange ({source})"
    suppress = {v.strip().lower() for v in _header(msg, "X-Auto-Response-Suppress").split(",")}
    if is_reply and "all" in suppress:
        return "Outlook automatic reply (X-Auto-Response-Suppress on a reply)"
    if msg.get_param("report-type", "") == "disposition-notification" or _header(
        msg, "Content-Type"
    ).lower().startswith("message/disposition-notification"):
        return "read receipt"
    if msg.get_param("report-type", "") == "feedback-report":
        return "feedback report"
    if null_sender:
        return "null return path"
    local = sender.partition("@")[0]
    if ROBOT_LOCALS.match(local):
        return f"robot sender {local}"
    if AUTOREPLY_SUBJECT.search(subject) or AUTOREPLY_PHRASE.search(subject):
        return "auto-reply subject"
    return ""


def _no_auto_answer(msg: Message, list_id: str, is_reply: bool) -> str:
    precedence = _header(msg, "Precedence").lower()
    if precedence in ("bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    if list_id:
        return f"mailing list {list_id[:120]}"
    if _has(msg, "List-Unsubscribe") or _has(msg, "List-Post"):
        return "mailing list (List-Unsubscribe)"
    if _has(msg, "X-Loop"):
        return "X-Loop header"
    suppress = {v.strip().lower() for v in _header(msg, "X-Auto-Response-Suppress").split(",")}
    if suppress & SUPPRESS_ANSWERS:
        return "X-Auto-Response-Suppress"
    return ""

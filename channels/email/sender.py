"""Outbound mail: through an SMTP relay, or into a local maildir when none is set.

Every mail carries a Message-ID derived from its outbox key (a retry is the same
message), the ticket's reply address in Reply-To, In-Reply-To/References and an
Outlook Thread-Index for threading, and ``Auto-Submitted: auto-replied`` when it
is automatic. The returned Message-ID is stored on the outbox row, so a reply that
quotes it threads back to the ticket. An agent's files on a reply go as MIME
attachments (``multipart/mixed``: the text first, then each file in base64, its
name RFC 2231-encoded when it is not ASCII).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import charset as _charset
from email import encoders
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTPUTF8, Compat32
from email.utils import formataddr, formatdate
from pathlib import Path

from channels.email import ids
from core.errors import DeliveryError
from core.tickets.files import OutFile
from core.tokens import reply_token
from core.values import Outbound

CHANNEL = "email"

# Bodies that are not plain ASCII go out quoted-printable: readable in the raw
# message, and safe through relays without 8BITMIME.
_UTF8 = _charset.Charset("utf-8")
_UTF8.body_encoding = _charset.QP
_UTF8.header_encoding = _charset.QP


def _text_part(text: str, subtype: str) -> MIMEText:
    try:
        text.encode("ascii")
    except UnicodeEncodeError:
        return MIMEText(text, subtype, _UTF8)  # type: ignore[arg-type]  # a Charset works (typeshed: str)
    return MIMEText(text, subtype, "us-ascii")


def _header(value: str, utf8: bool = False) -> str | Header:
    """A header value as is when ASCII or when the mail goes with UTF-8 headers
    (``utf8``), else RFC 2047 encoded; never a line break."""
    value = " ".join(value.split())
    if utf8 or value.isascii():
        return value
    return Header(value, _UTF8, maxlinelen=76)


PLAIN = re.compile(r"[\t -~]*")  # printable ASCII: nothing to encode, no line break


class Plain32(Compat32):
    """The stdlib's compat32, writing a header that is printable ASCII and fits on one
    line as it is, without building a ``Header`` to fold it: the same bytes (the tests
    compare the two on any text), at a fraction of the cost, and most of a message's
    headers are such. Anything else is folded by compat32 itself."""

    def fold_binary(self, name: str, value: object) -> bytes:
        if (
            isinstance(value, str)
            and (not self.max_line_length or len(name) + 2 + len(value) <= self.max_line_length)
            and PLAIN.fullmatch(value)
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)  # type: ignore[arg-type]  # a Header too (typeshed: str)


# How the mail is written: compat32 (which folds the RFC 2047 ``Header`` values) with
# 7-bit headers, the UTF-8 policies where the address needs SMTPUTF8 (their headers
# are plain text); LF line ends in the maildir, CRLF to the relay.
MAILDIR_ASCII = Plain32()
MAILDIR_UTF8 = SMTPUTF8.clone(linesep="\n")
RELAY_ASCII = Plain32(linesep="\r\n")


def _file_part(item: OutFile) -> MIMEBase:
    """One attachment: base64, its name as given (RFC 2231 when it is not ASCII)."""
    main, _, sub = item.content_type.partition("/")
    if not main or not sub or any(c in item.content_type for c in " ;\r\n"):
        main, sub = "application", "octet-stream"
    part = MIMEBase(main, sub)
    part.set_payload(item.data)
    encoders.encode_base64(part)
    name = " ".join(item.filename.split()) or "attachment"
    value: str | tuple[str, str, str] = name if name.isascii() else ("utf-8", "", name)
    part.add_header("Content-Disposition", "attachment", filename=value)
    return part


def recipient_address(value: str) -> tuple[str, bool]:
    """The address to send to: the domain in IDNA (``cliënt.example`` ->
    ``xn--clint-psa.example``), and whether the local part still needs SMTPUTF8.

    Raises ``DeliveryError`` (permanent) for what is not one address.
    """
    try:
        local, domain = ids.split_address(value)
        domain = domain.encode("idna").decode("ascii")
    except ValueError as exc:  # UnicodeError is one: a domain IDNA cannot write
        raise DeliveryError(
            f"not an email address: {value[:200]!r} ({exc})", permanent=True
        ) from exc
    return f"{local}@{domain}", not local.isascii()


@dataclass(frozen=True)
class Relay:
    host: str
    port: int = 587
    security: str = "starttls"  # starttls, tls, none
    user: str = ""
    password: str = ""
    timeout: float = 30.0


def thread_index(ticket_key: str, position: int) -> str:
    """An Outlook Thread-Index: 22 bytes for the thread, 5 more per later message."""
    digest = hashlib.sha256(ticket_key.encode()).digest()
    head = digest[:6] + digest[6:22]
    child = b"".join(
        hashlib.sha256(f"{ticket_key}:{i}".encode()).digest()[:5] for i in range(min(position, 20))
    )
    return base64.b64encode(head + child).decode()


def maildir_name(key: str) -> str:
    """The maildir file name of the delivery with this outbox key (in new/, or in cur/
    with the flags a mail reader appends: ``NAME:2,S``)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32] + ".switchboard"


def forget_maildir(maildir: Path, keys: frozenset[str]) -> int:
    """Remove the maildir files of these deliveries (an erasure); how many."""
    names = {maildir_name(k) for k in keys}
    removed = 0
    for sub in ("new", "cur", "tmp"):
        try:
            entries = list(os.scandir(maildir / sub))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.split(".switchboard", 1)[0] + ".switchboard" in names:
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
    return removed


class EmailSender:
    """The ``email`` sender; see the module docstring for the headers it writes."""

    channel = CHANNEL
    _lock = threading.Lock()

    def __init__(
        self,
        *,
        secret: bytes,
        mail_from: str,
        support: str,
        relay: Relay | None,
        maildir: Path,
        files: Callable[[Outbound], Sequence[OutFile]] | None = None,
    ) -> None:
        self.secret = secret
        self.mail_from = mail_from
        self.support = support
        self.relay = relay
        self.maildir = Path(maildir)
        self.domain = ids.domain_of(mail_from)
        self.files = files  # the files a reply carries, with their bytes
        self._local = threading.local()

    # Building -----------------------------------------------------------------------

    def build(self, out: Outbound, files: Sequence[OutFile] = (), utf8: bool = False) -> Message:
        """The mail for ``out`` with ``files`` attached (the stdlib's compat32 classes:
        the header-registry API of ``EmailMessage`` costs several times as much per
        message); ``utf8``: its headers are written in UTF-8 (SMTPUTF8), not RFC 2047."""
        ticket_id = out.thread.get("ticket_id")
        token = reply_token(self.secret, int(ticket_id)) if ticket_id else None
        text = _text_part(out.text or "", "plain")
        msg: Message
        if out.html:
            msg = MIMEMultipart("alternative", _subparts=[text, _text_part(out.html, "html")])
        else:
            msg = text
        if files:
            msg = MIMEMultipart("mixed", _subparts=[msg, *(_file_part(f) for f in files)])
        msg["From"] = formataddr(("Support", self.mail_from))
        msg["To"] = recipient_address(out.recipient)[0]
        # (compat32 messages take Header values; typeshed only knows str)
        msg["Subject"] = _header(
            out.subject or (f"[#{out.ticket_number}]" if out.ticket_number else "Support"), utf8
        )  # type: ignore[assignment]
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = ids.message_id_for(out.key, token, self.domain)
        if token:
            msg["Reply-To"] = ids.reply_address(self.support, token)
        refs = [
            r
            for r in (out.thread.get("references") or [])
            if isinstance(r, str) and r.startswith("<")
        ][-20:]
        if refs:
            msg["In-Reply-To"] = refs[-1]
            msg["References"] = " ".join(refs)
        if ticket_id:
            msg["Thread-Index"] = thread_index(f"ticket:{ticket_id}", len(refs))
            msg["Thread-Topic"] = _header((out.subject or "").split("] ", 1)[-1][:200], utf8)  # type: ignore[assignment]
        if out.automatic:
            msg["Auto-Submitted"] = "auto-replied"
            msg["X-Auto-Response-Suppress"] = "All"
        if out.ticket_number:
            msg["X-Switchboard-Ticket"] = out.ticket_number
        return msg

    # Sending ------------------------------------------------------------------------

    def send(self, out: Outbound) -> str | None:
        """Deliver ``out``; an address whose local part is not ASCII goes with SMTPUTF8
        (RFC 6531: UTF-8 headers), and only through a relay that offers it."""
        recipient, utf8 = recipient_address(out.recipient)
        msg = self.build(out, self.files(out) if self.files is not None else (), utf8)
        if self.relay is None:  # a maildir file has LF line ends, SMTP has CRLF
            self._to_maildir(out.key, msg.as_bytes(policy=MAILDIR_UTF8 if utf8 else MAILDIR_ASCII))
        else:
            self._to_relay(msg.as_bytes(policy=SMTPUTF8 if utf8 else RELAY_ASCII), recipient, utf8)
        return str(msg["Message-ID"])

    def _to_maildir(self, key: str, data: bytes) -> None:
        """Write once per key: the file name is derived from it, so a retry finds it."""
        name = maildir_name(key)
        if not (self.maildir / "tmp").is_dir():
            for sub in ("tmp", "new", "cur"):
                (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        with self._lock:
            if (self.maildir / "new" / name).exists() or self._in_cur(name):
                return
            tmp = self.maildir / "tmp" / f"{name}.{os.getpid()}.{time.monotonic_ns()}"
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.maildir / "new" / name)

    def _in_cur(self, name: str) -> bool:
        """Whether a mail reader already moved the message to cur/ (it appends flags: NAME:2,S)."""
        try:
            with os.scandir(self.maildir / "cur") as entries:
                return any(
                    entry.name == name or entry.name.startswith(name + ":") for entry in entries
                )
        except FileNotFoundError:
            return False

    def _to_relay(self, data: bytes, recipient: str, utf8: bool) -> None:
        relay = self.relay
        assert relay is not None
        try:
            client = self._session()
            options: list[str] = []
            if utf8:
                client.ehlo_or_helo_if_needed()
                if not client.has_extn("smtputf8"):
                    raise DeliveryError(
                        f"the relay {relay.host} does not offer SMTPUTF8, which the address "
                        f"{recipient!r} needs (its local part is not ASCII)",
                        permanent=True,
                    )
                options = ["SMTPUTF8", "BODY=8BITMIME"]
            try:
                client.sendmail(self.mail_from, [recipient], data, mail_options=options)
            except BaseException:
                self._drop()  # whatever state the session is in, the next mail starts afresh
                raise
            self._local.session = (client, time.monotonic())
        except smtplib.SMTPRecipientsRefused as exc:
            code, answer = next(iter(exc.recipients.values()))
            raise DeliveryError(
                f"relay refused the recipient: {code} {_text(answer)}", permanent=code >= 500
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"relay answered {exc.smtp_code} {_text(exc.smtp_error)}",
                permanent=exc.smtp_code >= 500,
            ) from exc
        except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryError(
                f"relay {relay.host}:{relay.port} unreachable: {type(exc).__name__}: {exc}",
                outage=True,
            ) from exc

    # One relay session per worker thread, kept between mails: a burst of
    # acknowledgements costs one connection, TLS handshake and login, not one each.
    # A session idle for a while is checked with NOOP first (relays close idle
    # sessions), and none is kept longer than REUSE_SECONDS.
    CHECK_AFTER_SECONDS = 5.0
    REUSE_SECONDS = 120.0

    def _session(self) -> smtplib.SMTP:
        held: tuple[smtplib.SMTP, float] | None = getattr(self._local, "session", None)
        if held is not None:
            client, last_used = held
            idle = time.monotonic() - last_used
            if idle < self.CHECK_AFTER_SECONDS:
                return client
            if idle < self.REUSE_SECONDS:
                try:
                    if client.noop()[0] == 250:
                        return client
                except (smtplib.SMTPException, OSError):
                    pass
            self._drop()
        client = self._connect()
        self._local.session = (client, time.monotonic())
        return client

    def _connect(self) -> smtplib.SMTP:
        relay = self.relay
        assert relay is not None
        if relay.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                relay.host, relay.port, timeout=relay.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout)
        try:
            client.ehlo()
            if relay.security == "starttls":
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if relay.user:
                client.login(relay.user, relay.password)
        except BaseException:
            client.close()
            raise
        return client

    def _drop(self) -> None:
        held = getattr(self._local, "session", None)
        self._local.session = None
        if held is not None:
            try:
                held[0].quit()
            except (smtplib.SMTPException, OSError):
                held[0].close()

    def close(self) -> None:
        """End this thread's relay session (others end when their threads do, or time out)."""
        self._drop()


def _text(answer: bytes | str) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)

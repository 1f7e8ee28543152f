"""How often agents see exactly the new words of a reply, beside the kept libraries; MIME fields.

Run: .venv/bin/python bench/reply_agreement.py [--misses] [--talon-python PATH]

The reply corpus is tests/fixtures/replies/*.json (public reply-parsing suites, and
replies as many clients write them in many languages) plus the .eml fixtures of
tests/fixtures/email. A quarter of it (chosen by a hash of each name, marked
``held_out``) is never used to develop the splitter and is reported apart.

Beside Switchboard's own splitter it measures, on the same decoded body text, the
libraries that are installed: mail-parser-reply, quotequail, email-reply-parser
(``pip install -e '.[bench]'``) and talon, which
needs old numerical packages and so runs in an interpreter of its own
(``--talon-python /path/to/venv/bin/python`` with ``pip install talon`` there).

Then the MIME set (tests/fixtures/mime and the .eml fixtures with expectations):
how often subject, sender, the expected words and the attachment names come out right.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from channels.email.body import Body  # noqa: E402
from channels.email.parse import parse  # noqa: E402
from tests.email_support import FIXTURES, ReplyCase, fixtures, norm, reply_cases  # noqa: E402

MIME = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "mime"
Splitter = Callable[[str], str]


def body_text(raw: bytes) -> str:
    """The decoded body text the splitters work on (every text part, before any cut)."""
    walk = Body()
    walk.walk(message_from_bytes(raw, policy=policy.compat32))
    return walk.text


def libraries() -> dict[str, Splitter]:
    found: dict[str, Splitter] = {}
    try:
        from mailparser_reply import EmailReplyParser as MailParserReply
        from mailparser_reply.constants import MAIL_LANGUAGES

        mpr = MailParserReply(languages=[lang for lang in MAIL_LANGUAGES if lang != "david"])

        def mail_parser_reply(text: str) -> str:
            replies = mpr.read(text).replies
            return replies[0].body if replies else ""

        found["mail-parser-reply"] = mail_parser_reply
    except ImportError:
        pass
    try:
        from quotequail import quote

        def quotequail(text: str) -> str:
            kept = []
            for is_new, part in quote(text, quote_intro_line=True):
                if not is_new:
                    break
                kept.append(part)
            return "".join(kept)

        found["quotequail"] = quotequail
    except ImportError:
        pass
    try:
        from email_reply_parser import EmailReplyParser

        found["email-reply-parser"] = EmailReplyParser.parse_reply
    except ImportError:
        pass
    return found


TALON = """
import json, sys
import talon
talon.init()
from talon import quotations
from talon.signature.bruteforce import extract_signature
out = []
for text in json.load(sys.stdin):
    reply = quotations.extract_from_plain(text)
    out.append(extract_signature(reply)[0])
json.dump(out, sys.stdout)
"""


def talon_results(python: str, texts: list[str]) -> list[str] | None:
    try:
        done = subprocess.run(
            [python, "-c", TALON],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"talon: not measured ({exc})", file=sys.stderr)
        return None
    return list(json.loads(done.stdout))


def pct(agree: int, total: int) -> str:
    return f"{agree / total:6.1%}" if total else "     -"


def table(
    title: str,
    key: Callable[[ReplyCase], str],
    cases: list[ReplyCase],
    results: dict[str, list[bool]],
) -> None:
    names = list(results)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, case in enumerate(cases):
        groups[key(case)].append(i)
    width = max(len(title), *(len(g) for g in groups))
    print(f"\n{title:<{width}}     n " + " ".join(f"{n[:18]:>18}" for n in names))
    for group in sorted(groups, key=lambda g: (-len(groups[g]), g)):
        idx = groups[group]
        row = " ".join(f"{pct(sum(results[n][i] for i in idx), len(idx)):>18}" for n in names)
        print(f"{group:<{width}} {len(idx):5} {row}")


def mime_accuracy() -> None:
    expected: dict[str, dict[str, object]] = json.loads(
        (MIME / "expected.json").read_text(encoding="utf-8")
    )
    rows: list[tuple[Path, dict[str, object]]] = [
        (MIME / f"{name}.eml", e) for name, e in expected.items()
    ]
    rows += [
        (FIXTURES / f"{name}.eml", e)
        for name, e in fixtures().items()
        if "subject" in e or "attachments" in e
    ]
    score: dict[str, list[bool]] = defaultdict(list)
    for path, e in rows:
        got = parse(path.read_bytes(), {})
        if "subject" in e:
            score["subject"].append(got.subject == e["subject"])
        if "sender" in e:
            score["sender"].append(got.sender == e["sender"])
        if "sender_name" in e:
            score["sender name"].append(got.sender_name == e["sender_name"])
        if "contains" in e:
            words = list(e["contains"])  # type: ignore[call-overload]
            absent = list(e.get("absent", []))  # type: ignore[call-overload]
            score["text present"].append(
                all(w in got.text for w in words) and not any(w in got.text for w in absent)
            )
        if "attachments" in e:
            names = [a.filename for a in got.attachments]
            score["attachments count"].append(len(names) == len(e["attachments"]))  # type: ignore[arg-type]
            score["attachment names"].append(names == e["attachments"])
    print(f"\nMIME fields on {len(rows)} messages (tests/fixtures/mime and tests/fixtures/email):")
    for field, marks in score.items():
        print(f"  {field:<18} {sum(marks)}/{len(marks)} = {sum(marks) / len(marks):.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--misses", action="store_true", help="print the developed-on disagreements"
    )
    parser.add_argument("--talon-python", help="an interpreter with talon installed")
    args = parser.parse_args()

    cases = reply_cases()
    texts = [body_text(c.raw) for c in cases]
    outputs: dict[str, list[str]] = {"switchboard": [parse(c.raw, {}).text for c in cases]}
    for name, split in libraries().items():
        outputs[name] = [split(t) or "" for t in texts]
    if args.talon_python:
        talon = talon_results(args.talon_python, texts)
        if talon is not None:
            outputs["talon"] = talon
    results = {
        name: [norm(got) == norm(c.visible) for got, c in zip(out, cases, strict=True)]
        for name, out in outputs.items()
    }

    clients = {c.client for c in cases}
    languages = {c.language for c in cases}
    print(
        f"Reply text agreement on {len(cases)} replies "
        f"({len(clients)} clients, {len(languages)} languages):"
    )
    print(f"{'':<20} {'all':>16} {'developed on':>16} {'held out':>16}")
    for name, marks in results.items():
        cells = []
        for part in (None, False, True):
            idx = [i for i, c in enumerate(cases) if part is None or c.held_out == part]
            agree = sum(marks[i] for i in idx)
            cells.append(f"{agree}/{len(idx)} {pct(agree, len(idx))}")
        print(f"{name:<20} " + " ".join(f"{cell:>16}" for cell in cells))
    held = [i for i, c in enumerate(cases) if c.held_out]
    held_cases = [cases[i] for i in held]
    held_results = {n: [r[i] for i in held] for n, r in results.items()}
    table("source", lambda c: c.source, cases, results)
    table("client", lambda c: c.client, cases, results)
    table("language", lambda c: c.language, cases, results)
    table("held out, by source", lambda c: c.source, held_cases, held_results)
    mime_accuracy()
    if args.misses:
        for i, case in enumerate(cases):
            if not case.held_out and not results["switchboard"][i]:
                print(f"\n--- {case.source}/{case.name}: expected\n{case.visible}\n--- got")
                print(outputs["switchboard"][i])


if __name__ == "__main__":
    main()

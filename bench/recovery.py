"""Recovery: from a kill -9 of `switchboard up` under load to the backlog drained.

Run: .venv/bin/python bench/recovery.py [--messages 3000] [--clients 8]

Starts the real `switchboard up` (embedded: SQLite, in-process workers), sends the
corpus of bench/smtp_intake.py over SMTP, and the moment the last message is
answered 250 kills the process with SIGKILL. It prints what was left undone
(records not decided, acknowledgements not sent), starts `switchboard up` again on
the same data, and prints how long it took to answer again and to finish all of it,
and whether every stored message became exactly one ticket or reply.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.memory import backlog, counts, drained, mail_to_send, start_up  # noqa: E402


def main() -> None:
    items, clients = mail_to_send(__doc__, 3000)
    with tempfile.TemporaryDirectory(prefix="switchboard-recovery-") as tmp:
        root = Path(tmp)
        process, port, _ = start_up(root)
        clients.blast(port, items)
        process.send_signal(signal.SIGKILL)
        process.wait()
        records, pending, unsent = backlog(root)
        print(f"answered 250:           {len(items):,} messages; stored: {records:,}")
        print(
            f"left at the kill:       {pending:,} records undecided, {unsent:,} deliveries unsent"
        )
        started = time.monotonic()
        process, _, _ = start_up(root)
        answering = time.monotonic() - started
        try:
            drained(root, len(items))
            total = time.monotonic() - started
            print(f"answering again after:  {answering:.1f} s")
            print(f"backlog drained after:  {total:.1f} s (from the restart)")
            decided, messages, sent = counts(
                root,
                "inbound_records WHERE status != 'pending'",
                "messages WHERE inbound_record_id IS NOT NULL",
                "outbox WHERE status = 'sent'",
            )
            delivered = sum(1 for f in (root / "maildir").rglob("*") if f.is_file())
            print(
                f"every record decided:   {decided == records} ({decided:,}); "
                f"client messages: {messages:,}; deliveries sent: {sent:,}, mails in the "
                f"maildir: {delivered:,} (more would be a delivery sent twice)"
            )
        finally:
            process.terminate()
            process.wait(30)
            clients.close()


if __name__ == "__main__":
    main()

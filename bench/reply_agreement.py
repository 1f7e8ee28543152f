"""How often the email parser's visible text matches the expected one on the fixture set.

Run: .venv/bin/python bench/reply_agreement.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from channels.email.parse import parse  # noqa: E402
from tests.email_support import FIXTURES, fixtures, reply_agreement  # noqa: E402


def main() -> None:
    agree, total, misses = reply_agreement()
    clients = {str(e.get("client", "?")) for e in fixtures().values() if "visible" in e}
    print(
        f"reply-parser agreement: {agree}/{total} = {agree / total:.1%} over {len(clients)} client shapes"
    )
    for label, flag in (("developed on", False), ("held out", True)):
        a, t, _ = reply_agreement(held_out=flag)
        print(f"  {label}: {a}/{t} = {a / t:.1%}")
    for name in misses:
        got = parse((FIXTURES / f"{name}.eml").read_bytes(), {}).text
        print(f"\n--- {name}: expected\n{fixtures()[name]['visible']}\n--- got\n{got}")


if __name__ == "__main__":
    main()

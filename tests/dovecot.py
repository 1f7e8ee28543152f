"""A throwaway Dovecot IMAP server for tests: own config, own port, own temp dir.

Never the system service: the server runs in the foreground from a generated
config under a temporary directory and is stopped when the test ends.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from imapclient import IMAPClient

from channels.email.imap import Account
from tests.harness import free_port
from tests.services import missing

USER, PASSWORD = "support", "secret-pass"


@dataclass
class Dovecot:
    port: int
    root: Path
    process: subprocess.Popen[bytes]


def _config(root: Path, port: int) -> str:
    if os.geteuid() == 0:
        login_user, internal_user = "dovenull", "dovecot"
        mail_uid = pwd.getpwnam("dovecot").pw_uid
        mail_gid = pwd.getpwnam("dovecot").pw_gid
    else:
        login_user = internal_user = pwd.getpwuid(os.geteuid()).pw_name
        mail_uid, mail_gid = os.geteuid(), os.getegid()
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = {min(mail_uid, 100)}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


def start(tmp: Path) -> Dovecot:
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not os.path.exists(binary):
        missing("dovecot (.ci/run installs dovecot-imapd)")
    # Dovecot's own users must reach the files: a world-traversable dir of our own
    # (pytest's temp dirs are private to this user).
    root = Path(tempfile.mkdtemp(prefix="sb-dovecot-"))
    os.chmod(root, 0o755)
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    (root / "dovecot.conf").write_text(_config(root, port))
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    if os.geteuid() == 0:
        mail_owner = pwd.getpwnam("dovecot")
        os.chown(root / "mail", mail_owner.pw_uid, mail_owner.pw_gid)
    process = subprocess.Popen(
        [binary, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode(errors="replace") if process.stdout else ""
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            raise RuntimeError(f"dovecot exited: {out}\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return Dovecot(port, root, process)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("dovecot did not start listening")


def stop(server: Dovecot) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[Dovecot]:
    server = start(tmp_path)
    yield server
    stop(server)


@pytest.fixture
def imap(dovecot: Dovecot) -> Iterator[IMAPClient]:
    """A client to put mail into the test server, as an MTA would."""
    client = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False)
    client.login(USER, PASSWORD)
    yield client
    client.logout()


def account(server: Dovecot) -> Account:
    """The poller's account on the test server."""
    return Account("127.0.0.1", server.port, security="none", user=USER, password=PASSWORD)

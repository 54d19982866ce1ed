"""A throwaway Dovecot IMAP server: Debian's `dovecot-imapd`, our own config in a temp folder.

Free ports on 127.0.0.1, a self-signed certificate (plain IMAP with STARTTLS on one port,
IMAPS on another), one user with a password, Maildir under the temp folder. The system's
Dovecot service is never touched. When dovecot is missing and we run as root, `install_dovecot`
runs `apt-get install -y dovecot-imapd`; otherwise install it yourself.
"""
from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.redis_server import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

CONFIG = """
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
instance_name = threadline-test-{imap_port}
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{dir}/cert.pem
ssl_key = <{dir}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_location = maildir:{dir}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


def _descendants(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return children + [grandchild for child in children for grandchild in _descendants(child)]


def dovecot_available() -> bool:
    return Path(DOVECOT).exists()


def install_dovecot() -> None:
    """Install Debian's `dovecot-imapd` when we may (root with apt-get); only the binary is
    used: the system service is never configured or started by these tests."""
    global DOVECOT
    if dovecot_available():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError("dovecot is not installed; run: sudo apt-get install -y dovecot-imapd")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "dovecot-imapd"], check=True, capture_output=True, env=env)
    DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


class DovecotServer:
    user = "shop@example.com"
    password = "imap-test-password"

    def __init__(self) -> None:
        install_dovecot()
        self.dir = Path(tempfile.mkdtemp(prefix="threadline-dovecot-"))
        self.imap_port = free_port()
        self.imaps_port = free_port()
        if os.geteuid() == 0:
            # Dovecot refuses mail access as root: mail belongs to the `dovecot` system user.
            owner = pwd.getpwnam("dovecot")
            login_user, internal_user, internal_group = "dovenull", "dovecot", "dovecot"
        else:
            owner = pwd.getpwuid(os.geteuid())
            login_user = internal_user = owner.pw_name
            internal_group = owner.pw_name
        for sub in ("run", "state", "mail", "home"):
            (self.dir / sub).mkdir()
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(self.dir / "key.pem"), "-out", str(self.dir / "cert.pem")],
            check=True, capture_output=True,
        )
        (self.dir / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        self.config = self.dir / "dovecot.conf"
        self.config.write_text(CONFIG.format(
            dir=self.dir, imap_port=self.imap_port, imaps_port=self.imaps_port, uid=owner.pw_uid,
            gid=owner.pw_gid, login_user=login_user, internal_user=internal_user,
            internal_group=internal_group,
        ))
        if os.geteuid() == 0:
            shutil.chown(self.dir / "mail", owner.pw_uid, owner.pw_gid)
            shutil.chown(self.dir / "home", owner.pw_uid, owner.pw_gid)
            os.chmod(self.dir, 0o755)
        self._start()

    def _start(self) -> None:
        # -F: stay in the foreground, so this object owns the process and can stop it.
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()

    def restart(self, abrupt: bool = False) -> None:
        """Stop and start the server on the same ports and Maildir. Every client connection is
        dropped: the IMAP processes that serve them outlive a stopped master on their own, so
        they are sent SIGTERM (they say BYE) or, `abrupt`, SIGKILL (the socket just closes)."""
        sessions = _descendants(self.process.pid)
        self.process.terminate()
        self.process.wait(timeout=15)
        for pid in sessions:
            try:
                os.kill(pid, signal.SIGKILL if abrupt else signal.SIGTERM)
            except ProcessLookupError:
                pass
        self._start()

    @property
    def cert(self) -> Path:
        return self.dir / "cert.pem"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.imap_port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        log = (self.dir / "dovecot.log").read_text() if (self.dir / "dovecot.log").exists() else ""
        self.stop()
        raise RuntimeError(f"test dovecot did not start:\n{log[-2000:]}")

    def client(self) -> imaplib.IMAP4:
        """A plain synchronous client for test setup and assertions (never used by the code)."""
        client = imaplib.IMAP4("127.0.0.1", self.imap_port)
        client.login(self.user, self.password)
        return client

    def deliver(self, raw: bytes, mailbox: str = "INBOX") -> None:
        client = self.client()
        try:
            client.append(mailbox, "", imaplib.Time2Internaldate(time.time()), raw)
        finally:
            client.logout()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        shutil.rmtree(self.dir, ignore_errors=True)

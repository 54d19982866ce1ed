"""Reading a mailbox over IMAP (aioimaplib): every new mail handed over exactly in UID order.

- Position: `(UIDVALIDITY, last UID)` per mailbox in Redis (`EmailState`). The cursor moves
  only after the handler accepted a mail, so a crash replays at most the mail in hand (the
  inbox dedupes it by Message-ID). A changed UIDVALIDITY restarts from UID 1: the dedupe
  keeps already-seen mail from being answered twice.
- `UID SEARCH UID n:*` also returns the highest UID when it is below n: filter client-side.
- `BODY.PEEK[]` and no reliance on `\\Seen`: people read the same mailbox. Processed mail gets
  the keyword `$Threadline` (shown by clients that display IMAP keywords; searchable).
- IDLE for push, renewed every `idle_s` (< 29 min, RFC 2177), and a full check after every
  IDLE round even without a push, so a missed notification costs at most `idle_s`. Before it
  idles the reader searches until a search finds nothing new: mail announced while it was
  busy (an EXISTS in a FETCH or STORE answer, which the server does not repeat in IDLE) is
  read at once, not after `idle_s`. A dropped connection (a BYE, or the socket closing) ends
  the IDLE at once and the reader reconnects; aioimaplib itself would wait for the next push.
- First start on a mailbox (no cursor yet): the boundary (UIDNEXT - 1) is stored before
  anything is read, so a mail that arrives while the reader starts has a higher UID and is read
  as new mail. Below the boundary only unseen mail is read (a person already read the rest):
  received (INTERNALDATE) within `backlog_hours` it goes to `handler` and is answered; older,
  to `record_unanswered`, so an agent sees it without the customer getting a late bot reply.
  A crash during the backlog resumes it where it stopped (the boundary is in the cursor).
- Quarantine: a mail over `max_bytes` (RFC822.SIZE, asked before fetching) or one the handler
  refuses with `UnparseableMail` gets the keyword `$ThreadlineQuarantine`, is counted
  (`EmailState.quarantine`) and logged in one line (UID, size, reason; never its content),
  and the reader goes on with the next UID. Nothing is deleted: a person can still open it.
"""
from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from datetime import datetime
from typing import Awaitable, Callable, List, Optional, Set, Tuple

from aioimaplib import aioimaplib

from connectors.email.config import DEFAULT_BACKLOG_HOURS, DEFAULT_MAX_BYTES, ServerSettings
from connectors.email.message import UnparseableMail
from connectors.email.state import EmailState

log = logging.getLogger(__name__)

PROCESSED_FLAG = "$Threadline"
QUARANTINE_FLAG = "$ThreadlineQuarantine"
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_UIDNEXT = re.compile(rb"UIDNEXT (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_EXISTS = re.compile(rb"\d+ EXISTS")

MailHandler = Callable[[int, bytes], Awaitable[None]]


class ImapError(Exception):
    pass


def new_uids(search_lines: List[bytes], after: int) -> List[int]:
    """UIDs from a `UID SEARCH` answer strictly above `after`, ascending."""
    uids: List[int] = []
    for line in search_lines:
        text = bytes(line).decode("ascii", "replace")
        if text.startswith("SEARCH") or text[:1].isdigit():
            uids.extend(int(tok) for tok in text.replace("SEARCH", " ").split() if tok.isdigit())
    return sorted(uid for uid in set(uids) if uid > after)


def literal_of(fetch_lines: List[bytes]) -> Optional[bytes]:
    """The message bytes in a `UID FETCH … (BODY.PEEK[])` answer (aioimaplib: a bytearray)."""
    for line in fetch_lines:
        if isinstance(line, bytearray):
            return bytes(line)
    return None


def received_at(fetch_lines: List[bytes]) -> Optional[float]:
    """INTERNALDATE (when the server received the mail) as a Unix time; None when absent."""
    for line in fetch_lines:
        found = _INTERNALDATE.search(bytes(line))
        if found:
            stamp = found.group(1).decode("ascii", "replace").strip()
            try:
                return datetime.strptime(stamp, "%d-%b-%Y %H:%M:%S %z").timestamp()
            except ValueError:
                return None
    return None


def size_of(fetch_lines: List[bytes]) -> Optional[int]:
    """RFC822.SIZE in a `UID FETCH … (RFC822.SIZE)` answer; None when the mail is gone."""
    for line in fetch_lines:
        found = _SIZE.search(bytes(line))
        if found:
            return int(found.group(1))
    return None


class ImapReader:
    def __init__(self, server: ServerSettings, mailbox: str, mailbox_key: str, state: EmailState,
                 handler: MailHandler, *, record_unanswered: MailHandler,
                 ssl_context: Optional[ssl.SSLContext] = None, idle_s: float = 300,
                 backlog_hours: float = DEFAULT_BACKLOG_HOURS, timeout_s: float = 30,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.server = server
        self.mailbox = mailbox
        self.mailbox_key = mailbox_key
        self.state = state
        self.handler = handler
        self.record_unanswered = record_unanswered
        self.ssl_context = ssl_context
        self.idle_s = min(idle_s, 25 * 60)
        self.backlog_s = backlog_hours * 3600
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.client: Optional[aioimaplib.IMAP4] = None
        self.connected = asyncio.Event()
        self._connection_lost = asyncio.Event()
        self._stopping = False
        self._refused_flags: Set[str] = set()
        self._wakeups: Set[asyncio.Task] = set()

    # --- connection ---------------------------------------------------------------------
    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    async def connect(self) -> None:
        server = self.server
        if server.security == "ssl":
            client = aioimaplib.IMAP4_SSL(server.host, server.port, timeout=self.timeout_s,
                                          ssl_context=self._context())
        else:
            client = aioimaplib.IMAP4(server.host, server.port, timeout=self.timeout_s)
        self._connection_lost = self._watch(client)
        await client.wait_hello_from_server()
        if server.security == "starttls":
            await self._starttls(client)
        response = await client.login(server.user, server.password)
        if response.result != "OK":
            raise ImapError(f"IMAP login refused for {server.user}")
        self.client = client

    @staticmethod
    def _watch(client: aioimaplib.IMAP4) -> asyncio.Event:
        """An event set when this connection drops. aioimaplib only logs a lost connection: a
        reader in IDLE would wait for the next push (up to `idle_s`) on a dead socket, so the
        loss also wakes the IDLE wait."""
        lost = asyncio.Event()
        protocol = client.protocol

        def connection_lost(error: Optional[Exception]) -> None:
            lost.set()
            protocol.idle_queue.put_nowait(aioimaplib.STOP_WAIT_SERVER_PUSH)

        protocol.conn_lost_cb = connection_lost
        return lost

    async def _starttls(self, client: aioimaplib.IMAP4) -> None:
        # aioimaplib has no STARTTLS helper: send the command, then upgrade the transport.
        protocol = client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError("server does not offer STARTTLS (EMAIL_IMAP_SECURITY=starttls)")
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        response = await asyncio.wait_for(protocol.execute(command), self.timeout_s)
        if response.result != "OK":
            raise ImapError("STARTTLS refused")
        loop = asyncio.get_running_loop()
        protocol.transport = await loop.start_tls(protocol.transport, protocol, self._context(),
                                                  server_hostname=self.server.host)
        await asyncio.wait_for(protocol.capability(), self.timeout_s)  # capabilities change after TLS

    async def close(self) -> None:
        client, self.client = self.client, None
        self.connected.clear()
        if client is None:
            return
        try:
            if client.has_pending_idle():
                client.idle_done()
            await asyncio.wait_for(client.logout(), 5)
        except Exception:  # closing a broken connection: nothing more to do
            pass

    # --- one pass -----------------------------------------------------------------------
    async def select(self) -> tuple[int, int]:
        """SELECT the mailbox; returns (UIDVALIDITY, UIDNEXT)."""
        response = await self.client.select(self.mailbox)
        if response.result != "OK":
            raise ImapError(f"cannot select mailbox {self.mailbox!r}")
        joined = b" ".join(bytes(line) for line in response.lines)
        validity = _UIDVALIDITY.search(joined)
        uidnext = _UIDNEXT.search(joined)
        if not validity:
            raise ImapError("server sent no UIDVALIDITY")
        return int(validity.group(1)), int(uidnext.group(1)) if uidnext else 0

    async def sync(self, uidvalidity: int, uidnext: int) -> int:
        """Hand over every mail after the stored position; returns how many."""
        cursor = await self.state.imap_cursor(self.mailbox_key)
        if cursor is None:
            boundary = max(uidnext - 1, 0)
            # Stored before reading: whatever arrives from now on is above it and read as new.
            await self.state.start_imap_cursor(self.mailbox_key, uidvalidity, boundary)
            last = 0
            if boundary:
                log.info("email: first start on %s: unseen mail up to UID %d received within %g h is "
                         "answered, older unseen mail is recorded unanswered", self.mailbox, boundary,
                         self.backlog_s / 3600)
        elif cursor[0] != uidvalidity:
            log.warning("email: UIDVALIDITY of %s changed (%d → %d): rescanning; known mail is "
                        "recognised by Message-ID", self.mailbox, cursor[0], uidvalidity)
            last = 0
            await self.state.start_imap_cursor(self.mailbox_key, uidvalidity, 0)
        else:
            last = cursor[1]
        handled = 0
        boundary = await self.state.imap_backlog_end(self.mailbox_key)
        if last < boundary:
            for uid in await self._search(f"UID {last + 1}:{boundary} UNSEEN", last):
                if uid <= boundary and await self._read(uid, backlog=True):
                    handled += 1
                await self.state.set_imap_cursor(self.mailbox_key, uidvalidity, uid)
            await self.state.set_imap_cursor(self.mailbox_key, uidvalidity, boundary)
            last = boundary
        # Search again after every batch, until a search finds nothing: a mail that lands
        # while one is fetched or marked is announced (EXISTS) in the answer to that FETCH or
        # STORE, which aioimaplib drops, and the server does not announce it again in IDLE.
        # A search whose own answer announces mail is followed by one more.
        rechecked = False
        while True:
            uids, announced = await self._search_announced(f"UID {last + 1}:*", last)
            for uid in uids:
                if await self._read(uid):
                    handled += 1
                await self.state.set_imap_cursor(self.mailbox_key, uidvalidity, uid)
                last = uid
            if uids:
                rechecked = False
            elif announced and not rechecked:
                rechecked = True
            else:
                return handled

    async def _search(self, criteria: str, after: int) -> List[int]:
        return (await self._search_announced(criteria, after))[0]

    async def _search_announced(self, criteria: str, after: int) -> Tuple[List[int], bool]:
        """UIDs above `after` matching `criteria`, and whether the answer announced new mail."""
        response = await self.client.uid_search(criteria, charset=None)
        if response.result != "OK":
            raise ImapError("UID SEARCH failed")
        announced = any(_EXISTS.match(bytes(line)) for line in response.lines)
        return new_uids(response.lines, after), announced

    async def _read(self, uid: int, backlog: bool = False) -> bool:
        """Hand one mail over, or quarantine it; False when it was not handed over. A backlog
        mail older than `backlog_hours` goes to `record_unanswered` instead of `handler`."""
        sized = await self.client.uid("fetch", str(uid), "(RFC822.SIZE INTERNALDATE)")
        size = size_of(sized.lines) if sized.result == "OK" else None
        if size is None:
            log.warning("email: UID %d vanished before it could be read", uid)
            return False
        if size > self.max_bytes:
            await self._quarantine(uid, size, f"larger than EMAIL_MAX_BYTES ({self.max_bytes})")
            return False
        fetched = await self.client.uid("fetch", str(uid), "(BODY.PEEK[])")
        raw = literal_of(fetched.lines) if fetched.result == "OK" else None
        if raw is None:
            log.warning("email: UID %d vanished before it could be read", uid)
            return False
        if len(raw) > self.max_bytes:  # the server understated the size
            await self._quarantine(uid, len(raw), f"larger than EMAIL_MAX_BYTES ({self.max_bytes})")
            return False
        handler = self.handler
        if backlog:
            # No INTERNALDATE (never seen on real servers): answering late beats never answering.
            received = received_at(sized.lines)
            if received is not None and time.time() - received > self.backlog_s:
                handler = self.record_unanswered
        try:
            await handler(uid, raw)
        except UnparseableMail as refused:
            await self._quarantine(uid, len(raw), refused.reason)
            return False
        await self._flag(uid, PROCESSED_FLAG)
        return True

    async def _quarantine(self, uid: int, size: int, reason: str) -> None:
        await self._flag(uid, QUARANTINE_FLAG)
        await self.state.quarantine(self.mailbox_key, uid, size, reason)
        log.warning("email: UID %d (%d bytes) quarantined: %s; flagged %s and left in %s",
                    uid, size, reason, QUARANTINE_FLAG, self.mailbox)

    async def _flag(self, uid: int, flag: str) -> None:
        stored = await self.client.uid("store", str(uid), "+FLAGS.SILENT", f"({flag})")
        if stored.result != "OK" and flag not in self._refused_flags:
            # e.g. Exchange: no custom keywords. Nothing depends on the mark; say it once.
            self._refused_flags.add(flag)
            log.warning("email: server refused the %s keyword; such mail is not marked", flag)

    async def _idle_once(self) -> None:
        """Wait for a push (new mail) or `idle_s`, whichever comes first."""
        if not self.client.protocol.capabilities or "IDLE" not in self.client.protocol.capabilities:
            await asyncio.sleep(self.idle_s)
            return
        if self._connection_lost.is_set():
            raise ConnectionError("IMAP connection lost")
        idle = await self.client.idle_start(timeout=self.idle_s)
        try:
            while not self._stopping:
                pushed = await self.client.wait_server_push(timeout=self.idle_s + 5)
                if self._connection_lost.is_set():
                    raise ConnectionError("IMAP connection lost while idling")
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                lines = [bytes(line) for line in pushed]
                if any(line.startswith(b"BYE") for line in lines):
                    raise ConnectionError("IMAP server closed the connection (BYE)")
                if any(b"EXISTS" in line for line in lines):
                    break
        finally:
            await self._end_idle(idle)

    async def _end_idle(self, idle: asyncio.Future) -> None:
        """Send DONE and wait for the server's answer, or for the connection to drop (after a
        BYE no answer comes: waiting `timeout_s` for it would delay the reconnection)."""
        if not self._connection_lost.is_set() and self.client.has_pending_idle():
            self.client.idle_done()
        lost = asyncio.ensure_future(self._connection_lost.wait())
        try:
            done, _ = await asyncio.wait({idle, lost}, timeout=self.timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if idle in done and not self._connection_lost.is_set():
            idle.result()  # a refused IDLE raises here, as before
            return
        idle.cancel()
        if not done:
            raise ImapError(f"no answer to DONE within {self.timeout_s:g} s")

    # --- the loop -----------------------------------------------------------------------
    async def run(self) -> None:
        backoff = 1.0
        while not self._stopping:
            try:
                await self.connect()
                while not self._stopping:
                    validity, uidnext = await self.select()
                    await self.sync(validity, uidnext)
                    self.connected.set()
                    backoff = 1.0
                    await self._idle_once()
            except asyncio.CancelledError:
                await self.close()
                raise
            except Exception as error:
                log.warning("email: IMAP %s:%d failed (%s: %s); reconnecting in %.0f s",
                            self.server.host, self.server.port, type(error).__name__, error, backoff)
                await self.close()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60)

    def stop(self) -> None:
        """No new round starts and a waiting IDLE ends now; cancel the `run()` task to end the
        current round at once (it logs out)."""
        self._stopping = True
        # Python 3.10's wait_for can swallow a cancel that races a server push (bpo-42130), and
        # Dovecot pushes "Still here" every 2 min: without this wake-up the reader could idle on.
        if self.client is not None and self.client.has_pending_idle():
            task = asyncio.get_running_loop().create_task(self.client.stop_wait_server_push())
            self._wakeups.add(task)
            task.add_done_callback(self._wakeups.discard)

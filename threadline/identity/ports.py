"""What the identity operations need from other parts of Threadline, as protocols.

- `HistoryStore`: the tracker store's whole-history access
  (`threadline.conversation.tracker_store.CustomerTrackerStore` provides it).
- `ConversationLocks`: the per-customer lock Rasa holds while it handles a message
  (`threadline.conversation.lock_store.CustomerLockStore`, or any Rasa `LockStore`).
- `CodeSender`: delivers a one-time code through a channel (email, SMS, WhatsApp senders
  come from the channel connectors).
"""
from __future__ import annotations

from typing import Any, AsyncContextManager, Dict, List, Optional, Protocol


class HistoryStore(Protocol):
    async def read_history(self, sender_id: str, start: int = 0, count: Optional[int] = None) -> List[Dict[str, Any]]: ...

    async def rewrite_history(self, sender_id: str, events: List[Dict[str, Any]]) -> None: ...


class ConversationLocks(Protocol):
    def lock(self, conversation_id: str) -> AsyncContextManager[Any]: ...


class CodeSender(Protocol):
    async def send_code(self, channel: str, address: str, code: str, language: Optional[str] = None) -> None:
        """Send `code` to `address` on `channel` ("email", "sms" or "whatsapp"), its message in
        `language` (the claimant's: "pt", "en"; None: English)."""

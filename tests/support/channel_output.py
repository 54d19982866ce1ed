"""An output channel that collects the bot's replies and names a channel, so Rasa picks the
`channel:` variant of each response, as it does behind the real connectors."""
from __future__ import annotations

from rasa.core.channels import CollectingOutputChannel


class ChannelOutput(CollectingOutputChannel):
    def __init__(self, channel: str) -> None:
        super().__init__()
        self._channel = channel

    def name(self) -> str:
        return self._channel

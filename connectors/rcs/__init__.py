"""RCS business messaging (Google RBM), with SMS as the fallback: connectors/rcs/channel.py.
RCS through Twilio's Messaging Service lives in the SMS connector (connectors/rcs/twilio.py).

The channel classes are imported on first use: connectors/sms.py uses this package's content
modules, and connectors/rcs/channel.py uses the SMS connector."""
from typing import Any

__all__ = ["RcsInput", "RcsOutput"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from connectors.rcs import channel
        return getattr(channel, name)
    raise AttributeError(name)

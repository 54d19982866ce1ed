"""Web chat: the widget's channel (connectors/webchat/channel.py)."""
from connectors.webchat.channel import WebchatInput, WebchatOutput

__all__ = ["WebchatInput", "WebchatOutput"]

"""The agent console: a small aiohttp web app beside the Rasa server (`python -m threadline.console`)."""

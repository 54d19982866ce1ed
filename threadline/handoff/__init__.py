"""Human handoff: the bot hands a customer to a person, with a summary; the person hands back.

`store` holds the handoff records and their audit (`OpenHandoff`, `open_handoffs`, …),
`summary` writes what the agent reads first, `rasa_api` talks to the Rasa server (pause,
resume, agent replies), `triggers` decides why and how urgently to escalate. docs/handoff.md.
"""

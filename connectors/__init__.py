"""Rasa-side plug-ins: channel connectors and the customer-keyed stores."""

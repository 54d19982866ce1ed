"""Custom actions served by the Rasa SDK action server (`python -m rasa_sdk --actions actions`)."""

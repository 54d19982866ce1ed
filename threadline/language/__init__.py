"""The language of a customer's message (threadline.language.detect). Bottom layer: it imports
nothing of the project but the settings."""

"""Measurements of the trained assistant that are not part of what it learns from.

Kept outside threadline/nlu on purpose: that folder is a training input (threadline/training.py),
so code there would make `make run` retrain.
"""

"""Threadline's NLU pieces: the rule-based entity extractor and the cross-validation report."""

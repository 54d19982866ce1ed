"""Threadline: one customer conversation across WhatsApp, Instagram, SMS and email."""

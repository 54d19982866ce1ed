"""Sandbox provider: Meta's Graph API and Twilio's Messages API on loopback, plus a customer
simulator that sends correctly signed webhooks to the real connectors."""

"""Everything every webhook channel needs, written once.

A connector (connectors/whatsapp.py, instagram.py, sms.py) only translates one provider's
wire format to and from `InboundEvent` and provider API calls; this package verifies
signatures, deduplicates, stores events in a durable inbox, resolves identities, feeds Rasa
and sends replies with retries.
"""

"""Channel identities, who owns each verified identifier, and pending claims."""
from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String

from threadline.crm.models.base import Base, utcnow


class ChannelIdentity(Base):
    """(channel, address) a customer uses or claimed, e.g. (sms, `+5511987654321`).

    `address` is exactly what the provider last gave (the reply goes there); `key` is the
    normalised identifier (`phone:+55…`, `email:…`) that matching uses. `last_seen_at` is
    the customer's last inbound message from it: the latest one is where replies go.
    """

    __tablename__ = "channel_identities"

    id = Column(Integer, primary_key=True)
    customer_id = Column(String(40), ForeignKey("customers.id"), nullable=False, index=True)
    channel = Column(String(20), nullable=False)
    address = Column(String(320), nullable=False)
    key = Column(String(340), nullable=False, index=True)
    verified = Column(Boolean, nullable=False, default=False)
    # inbound:<channel> | import | claim | operator
    source = Column(String(40), nullable=False)
    # indexed: the Insights refresh looks for the rows new since its watermark on every page view
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    last_seen_at = Column(DateTime, nullable=True)


class IdentifierOwner(Base):
    """Which customer a verified identifier belongs to: at most one, ever, at a time.

    The primary key is what makes first contact create exactly one customer even when two
    channels deliver the same new phone at once. The Redis index is a cache of this table.
    """

    __tablename__ = "identifier_owners"

    key = Column(String(340), primary_key=True)
    customer_id = Column(String(40), ForeignKey("customers.id"), nullable=False, index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)


class IdentityClaim(Base):
    """A customer said "I am <identifier>"; a one-time code went to that identifier.

    Only a hash of the code is kept. `status`: pending → verified | failed | expired.
    """

    __tablename__ = "identity_claims"

    id = Column(Integer, primary_key=True)
    customer_id = Column(String(40), ForeignKey("customers.id"), nullable=False, index=True)
    key = Column(String(340), nullable=False)
    code_hash = Column(String(100), nullable=False)
    expires_at = Column(DateTime, nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    status = Column(String(12), nullable=False, default="pending")
    created_at = Column(DateTime, nullable=False, default=utcnow)

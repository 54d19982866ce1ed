"""Incremental aggregates for the Insights page (threadline/insights/aggregates.py keeps them).

- insights_daily: per local day (business time zone) and channel, the messages by author and
  the care cycles that started;
- insights_customer_days: who wrote or was written to on a local day and channel, with the
  customer's previous such day: the distinct customers of [first, last] are the rows in range
  whose previous day is before `first` (a count, no DISTINCT);
- insights_cycle_state: per customer, the care cycle running now (where the next message goes);
- insights_cycles: one row of facts per care cycle (first useful response, last author, handoffs,
  repetitions), recomputed for the customers marked in insights_changed; insights_cycle_counts
  the same facts summed per day and channel (what the page reads).
"""
from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, DateTime, Float, Index, Integer, String, Text

from threadline.crm.models.base import Base


class InsightsDaily(Base):
    __tablename__ = "insights_daily"

    day = Column(Date, primary_key=True)
    channel = Column(String(20), primary_key=True)  # "unknown" when the message had none
    customer_messages = Column(Integer, nullable=False, default=0)
    bot_messages = Column(Integer, nullable=False, default=0)
    agent_messages = Column(Integer, nullable=False, default=0)
    cycles = Column(Integer, nullable=False, default=0)


class InsightsCustomerDay(Base):
    __tablename__ = "insights_customer_days"

    day = Column(Date, primary_key=True)
    channel = Column(String(20), primary_key=True)
    customer_id = Column(String(40), primary_key=True)
    previous_day = Column(Date, nullable=True)  # the customer's latest earlier day on this channel

    __table_args__ = (Index("ix_insights_customer_days_channel_customer", "channel", "customer_id", "day"),
                      # the page's count of the range's customers, read from the index alone
                      Index("ix_insights_customer_days_day_previous", "day", "channel", "previous_day"))


class InsightsCycleState(Base):
    __tablename__ = "insights_cycle_state"

    customer_id = Column(String(40), primary_key=True)
    cycle_start = Column(DateTime, nullable=True)  # None until the customer first wrote
    cycle_end = Column(DateTime, nullable=True)  # the cycle's last message (any author)


class InsightsCycle(Base):
    """One care cycle's facts (threadline/insights/cycle_facts.py computes them from the
    customer's rows); the page counts and sums these instead of reading messages."""
    __tablename__ = "insights_cycles"

    id = Column(String(80), primary_key=True)  # "<customer id>:<first customer message id>"
    customer_id = Column(String(40), nullable=False)
    channel = Column(String(20), nullable=False)  # "unknown" when the first message had none
    day = Column(Date, nullable=False)  # local day of its start in the business time zone
    started_at = Column(DateTime, nullable=False)
    last_at = Column(DateTime, nullable=False)
    last_author = Column(String(10), nullable=False)
    useful_seconds = Column(Float, nullable=True)  # to the first useful response; None without one
    useful_business_seconds = Column(Float, nullable=True)
    useful_by = Column(String(10), nullable=True)
    reached_bot = Column(Boolean, nullable=False)
    had_agent = Column(Boolean, nullable=False)
    useful_bot = Column(Boolean, nullable=False)  # some bot message of it is a useful answer
    handoffs = Column(Integer, nullable=False)  # opened while it ran
    handoff_reasons = Column(Text, nullable=True)  # JSON list, one per handoff; None without
    repetitions = Column(Integer, nullable=False)
    repeated = Column(Text, nullable=True)  # JSON {"facts": [...], "hows": [...], "by_fact": {...}}
    counted = Column(Text, nullable=True)  # JSON [[name, key, n], ...]: intents, failures, funnel steps
    # Resolution and abandonment as they stand once every window is over; the page takes back
    # the recent ones whose window is still running (resolved_at, or last_at without a next cycle).
    resolved_at = Column(DateTime, nullable=True)
    resolved_how = Column(String(10), nullable=True)
    back = Column(Boolean, nullable=False, default=False)  # a next cycle came within the window
    has_next = Column(Boolean, nullable=False, default=False)
    abandon_reason = Column(String(60), nullable=True)

    # The page reads the cycles of its last few days (aggregates.py) by the index of their time
    # window: equality first, then the window, then the range's day and channel and what is counted,
    # so the count never visits the table. No index on the day alone: a month of cycles, which the
    # planner, before the table's first ANALYZE, took for the narrowest way in.
    __table_args__ = (Index("ix_insights_cycles_customer", "customer_id"),
                      Index("ix_insights_cycles_last", "last_author", "last_at"),
                      Index("ix_insights_cycles_resolved", "back", "resolved_at", "day", "channel", "resolved_how"),
                      Index("ix_insights_cycles_abandoned", "has_next", "last_at", "abandon_reason", "day", "channel"))


class InsightsChanged(Base):
    """Customers whose cycle facts must be recomputed; `version` grows with every change so a
    refresh that read version n only clears the mark when nothing newer came meanwhile."""
    __tablename__ = "insights_changed"

    customer_id = Column(String(40), primary_key=True)
    version = Column(Integer, nullable=False, default=1)


class InsightsWatermark(Base):
    """Up to when the refresh has looked at handoffs, cases, identities, orders and opportunities
    (the rows other writers add; messages mark their customer in insights_changed)."""
    __tablename__ = "insights_watermark"

    name = Column(String(20), primary_key=True)
    at = Column(DateTime, nullable=False)


class InsightsCycleCount(Base):
    """The cycle facts summed per local day (of the cycle's start) and channel: `name` is what is
    counted (`cycles`, `reached_bot`, `handoff_reason`…), `key` its value where it has one (a
    reason, a fact kind, a duration in seconds), `n` how many. The page sums these."""
    __tablename__ = "insights_cycle_counts"

    day = Column(Date, primary_key=True)
    channel = Column(String(20), primary_key=True)
    name = Column(String(30), primary_key=True)
    key = Column(String(120), primary_key=True)
    n = Column(Integer, nullable=False, default=0)

    # The page's sums over a range of days, read from the index alone (the key and `n`).
    __table_args__ = (Index("ix_insights_cycle_counts_sums", "day", "channel", "name", "key", "n"),)

"""The conversation log: the bottom layer every other package stands on.

One append-only event history per customer (`event_log`), the Rasa tracker and lock stores
on it (`tracker_store`, `lock_store`) and the Redis connection factory they share
(`redis_connection`). Nothing here imports from identity, the CRM, connectors or actions.
"""

"""CRM tables. Import every model module here so Alembic and `Base.metadata` see them all."""
from threadline.crm.models.base import Base
from threadline.crm.models.customers import Customer, CustomerAlias
from threadline.crm.models.identities import ChannelIdentity, IdentifierOwner, IdentityClaim
from threadline.crm.models.audit import AuditEntry
from threadline.crm.models.interactions import Interaction
from threadline.crm.models.sales import Opportunity, OpportunityStageChange
from threadline.crm.models.support import Case, Promise
from threadline.crm.models.shop import Order, Product
from threadline.crm.models.handoffs import Agent, Handoff, HandoffEvent
from threadline.crm.models.merge_jobs import MergeJob
from threadline.crm.models.insights import (
    InsightsChanged, InsightsCustomerDay, InsightsCycle, InsightsCycleCount, InsightsCycleState, InsightsDaily, InsightsWatermark,
)
from threadline.crm.models.csat import CsatRequest
from threadline.crm.models.followups import CustomerOptOut, FollowUp

__all__ = [
    "Base", "Customer", "CustomerAlias", "ChannelIdentity", "IdentifierOwner", "IdentityClaim",
    "AuditEntry", "Interaction", "Opportunity", "OpportunityStageChange", "Case", "Promise", "Order",
    "Product", "Agent", "Handoff", "HandoffEvent", "MergeJob", "CsatRequest", "FollowUp", "CustomerOptOut",
    "InsightsDaily", "InsightsCustomerDay", "InsightsCycleState", "InsightsCycle", "InsightsChanged",
    "InsightsWatermark", "InsightsCycleCount",
]

"""HubSpot backend for the `Crm` protocol (CRM_BACKEND=hubspot); see docs/crm.md."""
from threadline.crm.hubspot.api import HubSpotApi, HubSpotRejected
from threadline.crm.hubspot.backend import HubSpotCrm

__all__ = ["HubSpotApi", "HubSpotCrm", "HubSpotRejected"]

"""A local HubSpot CRM v3 API for tests: the endpoints the HubSpot backend uses, HubSpot's
request and response shapes and error bodies, objects kept in memory, faults on demand.

Shapes follow HubSpot's public API reference (objects, search, associations, error format).
Like HubSpot, unknown properties are rejected, so the backend can only use properties the
account defines (the custom ones are listed in docs/crm.md).
"""
from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timezone
from typing import Dict, List, Tuple

from aiohttp import web

TOKEN = "pat-na1-test-token"
STANDARD = {"hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate"}
PROPERTIES = {
    "contacts": {"email", "firstname", "lastname", "phone", "threadline_customer_id", "threadline_language"},
    "notes": {"hs_timestamp", "hs_note_body", "threadline_key"},
    "deals": {"dealname", "dealstage", "pipeline", "amount", "threadline_key", "threadline_product",
              "threadline_plan", "threadline_quantity", "threadline_next_step", "threadline_channel"},
    "tickets": {"subject", "content", "hs_pipeline", "hs_pipeline_stage", "threadline_key", "threadline_topic",
                "threadline_order_id", "threadline_channel"},
    "tasks": {"hs_task_subject", "hs_timestamp", "hs_task_status", "threadline_key", "threadline_case_id"},
}
TO_CONTACT = {"notes": 202, "deals": 3, "tickets": 16, "tasks": 204}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error(status: int, category: str, message: str) -> web.Response:
    return web.json_response({"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
                              "category": category}, status=status)


class HubSpotSandbox:
    def __init__(self) -> None:
        self.objects: Dict[str, Dict[str, dict]] = {kind: {} for kind in PROPERTIES}
        self.contact_of: Dict[Tuple[str, str], str] = {}  # (type, id) → contact id
        self.requests: List[Tuple[str, str, dict]] = []
        self.faults: List[Tuple[int, dict, dict]] = []  # served before any real answer
        self._ids = itertools.count(51000)
        self.app = web.Application(middlewares=[self._gate])
        self.app.router.add_post("/crm/v3/objects/{kind}/search", self.search)
        self.app.router.add_post("/crm/v3/objects/{kind}", self.create)
        self.app.router.add_patch("/crm/v3/objects/{kind}/{id}", self.update)

    @web.middleware
    async def _gate(self, request: web.Request, handler):
        body = await request.json() if request.can_read_body else {}
        self.requests.append((request.method, request.path, body))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
        if self.faults:
            status, payload, headers = self.faults.pop(0)
            return web.json_response(payload, status=status, headers=headers)
        if request.match_info.get("kind") not in PROPERTIES:
            return error(404, "OBJECT_NOT_FOUND", "Unknown object type")
        request["body"] = body
        return await handler(request)

    def rate_limit_once(self, retry_after: str = "0") -> None:
        self.faults.append((429, {"status": "error", "message": "You have reached your secondly limit.",
                                  "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
                                  "policyName": "SECONDLY"}, {"Retry-After": retry_after}))

    def fail_once(self, status: int = 502) -> None:
        self.faults.append((status, {"status": "error", "message": "Bad gateway", "category": "INTERNAL_ERROR",
                                     "correlationId": str(uuid.uuid4())}, {}))

    def _invalid(self, kind: str, properties: dict):
        unknown = [name for name in properties if name not in PROPERTIES[kind] | STANDARD]
        if unknown:
            return error(400, "VALIDATION_ERROR", "Property values were not valid: " + ", ".join(
                f'Property "{name}" does not exist' for name in unknown))
        return None

    def _view(self, kind: str, obj: dict, wanted: List[str]) -> dict:
        props = {name: obj["properties"].get(name) for name in wanted}
        props.update({k: obj["properties"][k] for k in ("hs_object_id", "createdate", "hs_lastmodifieddate")})
        return {"id": obj["id"], "properties": props, "createdAt": obj["createdAt"],
                "updatedAt": obj["updatedAt"], "archived": False}

    async def create(self, request: web.Request) -> web.Response:
        kind, body = request.match_info["kind"], request["body"]
        properties = {k: None if v is None else str(v) for k, v in (body.get("properties") or {}).items()}
        if (bad := self._invalid(kind, properties)) is not None:
            return bad
        contact = None
        for association in body.get("associations") or []:
            type_id = association["types"][0]["associationTypeId"]
            contact = association["to"]["id"]
            if TO_CONTACT.get(kind) != type_id or contact not in self.objects["contacts"]:
                return error(400, "VALIDATION_ERROR", f"Invalid association {type_id} to {contact}")
        object_id, stamp = str(next(self._ids)), _now()
        obj = {"id": object_id, "createdAt": stamp, "updatedAt": stamp, "properties": {
            **properties, "hs_object_id": object_id, "createdate": stamp, "hs_lastmodifieddate": stamp}}
        self.objects[kind][object_id] = obj
        if contact:
            self.contact_of[(kind, object_id)] = contact
        return web.json_response(self._view(kind, obj, list(properties)), status=201)

    async def update(self, request: web.Request) -> web.Response:
        kind, object_id, body = request.match_info["kind"], request.match_info["id"], request["body"]
        obj = self.objects[kind].get(object_id)
        if obj is None:
            return error(404, "OBJECT_NOT_FOUND", "resource not found")
        properties = {k: str(v) for k, v in (body.get("properties") or {}).items()}
        if (bad := self._invalid(kind, properties)) is not None:
            return bad
        obj["properties"].update(properties)
        obj["updatedAt"] = obj["properties"]["hs_lastmodifieddate"] = _now()
        return web.json_response(self._view(kind, obj, list(obj["properties"])))

    async def search(self, request: web.Request) -> web.Response:
        kind, body = request.match_info["kind"], request["body"]
        groups = body.get("filterGroups") or [{"filters": []}]

        def matches(obj: dict, flt: dict) -> bool:
            if flt["operator"] != "EQ":
                raise ValueError("sandbox supports EQ only")
            if flt["propertyName"] == "associations.contact":
                return self.contact_of.get((kind, obj["id"])) == flt["value"]
            return obj["properties"].get(flt["propertyName"]) == flt["value"]

        found = [obj for obj in self.objects[kind].values()
                 if any(all(matches(obj, f) for f in group["filters"]) for group in groups)]
        limit = int(body.get("limit") or 10)
        return web.json_response({"total": len(found), "results": [
            self._view(kind, obj, body.get("properties") or []) for obj in found[:limit]]})

"""`ImportContacts`: seed customers and verified identities from a CSV (name, email, phone,
external id).

Each row is matched to at most one existing customer, by external id, email or phone. A row
whose identifiers point to two different customers is reported as a conflict and changes
nothing: two records are never merged automatically. Bad rows are reported with their line
number; good rows are imported either way (one transaction per row).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, TextIO

import phonenumbers
from sqlalchemy.orm import Session

from threadline.crm import Database
from threadline.crm.models import Customer
from threadline.identity import audit, directory
from threadline.identity.addresses import EMAIL, PHONE, Identifier, InvalidAddress, normalize_email, normalize_phone
from threadline.identity.index import IdentityIndex

COLUMNS = {"name": "name", "email": "email", "phone": "phone",
           "external id": "external_id", "external_id": "external_id", "externalid": "external_id"}


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list = field(default_factory=list)  # [{"line": n, "error": "..."}]

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "problems": self.problems}


class RowProblem(ValueError):
    pass


def _phone(raw: str, region: Optional[str]) -> str:
    if region and not raw.strip().startswith("+"):
        try:
            raw = phonenumbers.format_number(phonenumbers.parse(raw, region), phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException as exc:
            raise InvalidAddress("not a phone number") from exc
    return normalize_phone(raw)


class ImportContacts:
    def __init__(self, db: Database, index: IdentityIndex, *, actor: str = "import") -> None:
        self.db, self.index, self.actor = db, index, actor

    async def from_path(self, path: Path, *, default_region: Optional[str] = None) -> ImportReport:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return await self(handle, default_region=default_region, source=Path(path).name)

    async def __call__(self, handle: TextIO, *, default_region: Optional[str] = None,
                       source: str = "csv") -> ImportReport:
        reader = csv.DictReader(handle)
        header = {(h or "").strip().lower(): h for h in reader.fieldnames or []}
        known = {COLUMNS[h]: original for h, original in header.items() if h in COLUMNS}
        if not {"email", "phone", "external_id"} & set(known):
            raise ValueError("the CSV needs a header with at least one of: email, phone, external id")
        report = ImportReport()
        for row in reader:
            line = reader.line_num
            values = {name: (row.get(original) or "").strip() for name, original in known.items()}
            try:
                identifiers = []
                if values.get("email"):
                    identifiers.append((Identifier(EMAIL, normalize_email(values["email"])), "email"))
                if values.get("phone"):
                    identifiers.append((Identifier(PHONE, _phone(values["phone"], default_region)), "sms"))
                if not identifiers and not values.get("external_id"):
                    raise RowProblem("no email, phone or external id")
                outcome, owners = await self.db.run(
                    lambda s: self._import_row(s, values, identifiers, f"{source} line {line}"),
                    retry_conflicts=True)
            except (InvalidAddress, RowProblem) as exc:
                report.problems.append({"line": line, "error": str(exc)})
                continue
            setattr(report, outcome, getattr(report, outcome) + 1)
            await self.index.assign(owners)
        return report

    def _import_row(self, session: Session, values: dict, identifiers: list, where: str):
        matches = set()
        external_id = values.get("external_id") or None
        if external_id:
            found = session.query(Customer).filter_by(external_id=external_id).first()
            if found is not None:
                matches.add(directory.canonical_customer(session, found.id))
        for identifier, _ in identifiers:
            owner = directory.owner_of(session, identifier.key)
            if owner:
                matches.add(owner)
        if len(matches) > 1:
            raise RowProblem("its identifiers belong to different customers; not merged (use `merge` if they are one person)")
        if matches:
            customer = session.get(Customer, matches.pop())
            outcome = "unchanged"
        else:
            customer = directory.create_customer(session, display_name=values.get("name") or None,
                                                 external_id=external_id)
            outcome = "created"
        if values.get("name") and not customer.display_name:
            customer.display_name = values["name"]
        if external_id and not customer.external_id:
            customer.external_id = external_id
        added = []
        for identifier, channel in identifiers:
            if directory.owner_of(session, identifier.key) is None:
                directory.add_verified_identity(session, customer.id, identifier, channel, identifier.value,
                                                source="import", seen=None)
                added.append(identifier.key)
        if added and outcome == "unchanged":
            outcome = "updated"
            audit.record(session, "link", self.actor, f"imported contacts ({where})", customer.id,
                         undo={"imported_keys": added})
        return outcome, {key: customer.id for key in (i.key for i, _ in identifiers)}

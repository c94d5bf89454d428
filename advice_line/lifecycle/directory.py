"""The officers' directory: a force's import, verified numbers, leavers, numbers by hand.

A number identifies the officer when they ring or text only once it is verified (the
force's import vouches for its numbers; an admin verifies one added by hand), and never
after the officer has left (docs/DOMAIN.md#the-officers-directory). Every change is
audited with the numbers masked to their last three digits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from advice_line.audit import Actor, record_event
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput, NotFound
from advice_line.lifecycle.imports import Row, parse_rows, read_csv
from advice_line.models import Officer, OfficerPhone
from advice_line.phones import normalise

COLUMNS = ("force", "collar_number", "name", "phones")
_COLLAR = re.compile(r"[A-Z0-9]{1,10}")
PER_PAGE = 50


def masked(number: str) -> str:
    """A number as the audit log keeps it: its last three digits."""
    return f"…{number[-3:]}"


def collar_number(text: str) -> str:
    """Return the collar number upper case without spaces, or raise ``InvalidInput``."""
    collar = re.sub(r"\s", "", text).upper()
    if not _COLLAR.fullmatch(collar):
        raise InvalidInput({"collar_number": f"{text!r} is not 1 to 10 letters and digits"})
    return collar


def uk_number(text: str, *, field: str = "phone") -> str:
    """Return a UK number in E.164 form, or raise ``InvalidInput`` naming the field."""
    number = normalise(text, field=field)
    if not number.startswith("+44"):
        raise InvalidInput({field: f"{text!r} is not a UK number"})
    national = str(phonenumbers.parse(number).national_number)
    if re.search(r"[A-Za-z]", text) or len(national) not in (9, 10):
        raise InvalidInput({field: f"{text!r} is not a UK mobile or landline number"})
    return number


def force_of(text: str, forces: Collection[str]) -> str:
    """Return the force as the line names it (any case), or raise ``InvalidInput``."""
    for force in forces:
        if force.casefold() == text.strip().casefold():
            return force
    raise InvalidInput({"force": f"{text!r} is not a force the line serves"})


def label(officer: Officer) -> str:
    """How an officer is named in messages: force and collar number."""
    return f"{officer.force} {officer.collar_number}"


# --- a force's import -------------------------------------------------------------------


@dataclass(frozen=True)
class OfficerRow:
    """One parsed row of an import."""

    force: str
    collar_number: str
    name: str
    phones: tuple[str, ...]


#: An import refused because a change committed while it ran took one of its officers or
#: numbers first (two imports at once): the whole file is left unstored.
SAVED_MEANWHILE = (
    "Another change to the directory saved one of this file's officers or numbers while "
    "it was being imported, so nothing was stored. Import the file again."
)


@dataclass(frozen=True)
class ImportCounts:
    """What an import changed."""

    added: int
    updated: int
    unchanged: int
    numbers_added: int
    numbers_verified: int


class _RowParser:
    """Parses rows, checking each against earlier rows and the directory."""

    def __init__(self, forces: Collection[str], owners: dict[str, Officer]) -> None:
        self.forces = forces
        self.owners = owners
        self.officer_lines: dict[tuple[str, str], int] = {}
        self.number_lines: dict[str, int] = {}

    def __call__(self, row: Row) -> OfficerRow:
        errors: dict[str, str] = {}
        force = collar = ""
        try:
            force = force_of(row.get("force"), self.forces)
        except InvalidInput as error:
            errors.update(error.errors)
        try:
            collar = collar_number(row.get("collar_number"))
        except InvalidInput as error:
            errors.update(error.errors)
        name = row.get("name")
        if not name or len(name) > 120:
            errors["name"] = "give the officer's name (at most 120 characters)"
        if force and collar:
            earlier = self.officer_lines.setdefault((force, collar), row.line)
            if earlier != row.line:
                errors["collar_number"] = f"{collar} of {force} is also on line {earlier}"
        phones, problems = self._phones(row, force, collar)
        if problems:
            errors["phones"] = "; ".join(problems)
        if errors:
            raise InvalidInput(errors)
        return OfficerRow(force, collar, name, phones)

    def _phones(self, row: Row, force: str, collar: str) -> tuple[tuple[str, ...], list[str]]:
        numbers: list[str] = []
        problems: list[str] = []
        for text in filter(None, (part.strip() for part in row.get("phones").split(";"))):
            try:
                number = uk_number(text)
            except InvalidInput as error:
                problems.append(error.errors["phone"])
                continue
            earlier = self.number_lines.setdefault(number, row.line)
            owner = self.owners.get(number)
            if number in numbers:
                problems.append(f"{text} is given twice")
            elif earlier != row.line:
                problems.append(f"{text} is also on line {earlier}")
            elif owner is not None and (owner.force, owner.collar_number) != (force, collar):
                problems.append(f"{text} belongs to another officer, {label(owner)}")
            else:
                numbers.append(number)
        return tuple(numbers), problems


def import_officers(
    session: Session, data: bytes | str, *, forces: Collection[str], now: datetime, actor: Actor
) -> ImportCounts:
    """Import a force's CSV (docs/OFFICER-IMPORT.md): add new officers, update known ones
    (name, new numbers; a leaver in the file is back). Its numbers are verified: the
    force vouches for them. All or nothing: ``ImportRejected`` lists every bad line."""
    rows = read_csv(data, required=COLUMNS)
    officers = {
        (o.force, o.collar_number): o
        for o in session.scalars(select(Officer).options(selectinload(Officer.phones)))
    }
    owners = {phone.number: o for o in officers.values() for phone in o.phones}
    parsed = parse_rows(rows, _RowParser(forces, owners))
    added = updated = numbers_added = numbers_verified = 0
    for row in parsed:
        officer = officers.get((row.force, row.collar_number))
        if officer is None:
            session.add(
                Officer(
                    force=row.force,
                    collar_number=row.collar_number,
                    name=row.name,
                    created_at=now,
                    phones=[OfficerPhone(number=n, verified_at=now) for n in row.phones],
                )
            )
            added += 1
            numbers_added += len(row.phones)
            continue
        changed = officer.left_at is not None or officer.name != row.name
        officer.left_at, officer.name = None, row.name
        known = {phone.number: phone for phone in officer.phones}
        for number in row.phones:
            if number not in known:
                officer.phones.append(OfficerPhone(number=number, verified_at=now))
                numbers_added += 1
                changed = True
            elif known[number].verified_at is None:
                known[number].verified_at = now
                numbers_verified += 1
                changed = True
        updated += changed
    try:
        session.flush()
    except IntegrityError as clash:  # another import or admin saved one of them meanwhile
        raise InvalidInput({"file": SAVED_MEANWHILE}) from clash
    counts = ImportCounts(
        added, updated, len(parsed) - added - updated, numbers_added, numbers_verified
    )
    record_event(
        session,
        actor,
        "officers.imported",
        now=now,
        detail={"rows": len(parsed), **vars(counts)},
    )
    session.flush()
    return counts


# --- one officer, one number ------------------------------------------------------------


def get_officer(session: Session, officer_id: int, *, for_update: bool = False) -> Officer:
    """The officer with this id (locked, ``for_update``), or ``NotFound``."""
    officer = session.get(Officer, officer_id, with_for_update=for_update or None)
    if officer is None:
        raise NotFound("No officer has that id.")
    return officer


def find_officer(session: Session, force: str, collar: str, *, forces: Collection[str]) -> Officer:
    """The officer of ``force`` with this collar number, or ``NotFound``."""
    force, collar = force_of(force, forces), collar_number(collar)
    officer = session.scalars(
        select(Officer).where(Officer.force == force, Officer.collar_number == collar)
    ).one_or_none()
    if officer is None:
        raise NotFound(f"No officer of {force} has collar number {collar}.")
    return officer


def _phone(session: Session, number: str, officer_id: int | None) -> OfficerPhone:
    """The directory's entry for ``number`` (the officer's, if ``officer_id`` is given)."""
    phone = session.scalars(
        select(OfficerPhone).where(OfficerPhone.number == uk_number(number)).with_for_update()
    ).one_or_none()
    if phone is None or officer_id not in (None, phone.officer_id):
        raise NotFound(f"{number} is not in the officers' directory.")
    return phone


def add_phone(
    session: Session, officer_id: int, number: str, *, now: datetime, actor: Actor
) -> OfficerPhone:
    """Give the officer a number by hand; it is unverified until an admin verifies it."""
    officer = get_officer(session, officer_id)
    e164 = uk_number(number)
    if officer.left_at is not None:
        raise IllegalTransition(f"{label(officer)} has left: their numbers were removed.")
    owner = session.scalars(
        select(Officer).join(OfficerPhone).where(OfficerPhone.number == e164)
    ).one_or_none()
    if owner is not None:
        whose = "this officer" if owner.id == officer.id else f"another officer, {label(owner)}"
        raise InvalidInput({"phone": f"{number} already belongs to {whose}"})
    phone = OfficerPhone(number=e164, verified_at=None)
    officer.phones.append(phone)
    record_event(
        session,
        actor,
        "officer.phone_added",
        now=now,
        subject=("officer", officer.id),
        detail={"number": masked(e164), "verified": False},
    )
    session.flush()
    return phone


def verify_phone(
    session: Session, number: str, *, officer_id: int | None = None, now: datetime, actor: Actor
) -> OfficerPhone:
    """An admin confirmed the number is the officer's: from now on it identifies them."""
    phone = _phone(session, number, officer_id)
    if phone.verified_at is not None:
        raise IllegalTransition(f"{number} is already verified.")
    phone.verified_at = now
    record_event(
        session,
        actor,
        "officer.phone_verified",
        now=now,
        subject=("officer", phone.officer_id),
        detail={"number": masked(phone.number)},
    )
    session.flush()
    return phone


def remove_phone(
    session: Session, number: str, *, officer_id: int | None = None, now: datetime, actor: Actor
) -> Officer:
    """Take a number out of the directory: it identifies no one, and anyone may be given it."""
    phone = _phone(session, number, officer_id)
    officer = phone.officer
    officer.phones.remove(phone)
    record_event(
        session,
        actor,
        "officer.phone_removed",
        now=now,
        subject=("officer", officer.id),
        detail={"number": masked(phone.number), "was_verified": phone.verified_at is not None},
    )
    session.flush()
    return officer


def mark_leaver(session: Session, officer_id: int, *, now: datetime, actor: Actor) -> Officer:
    """The officer has left the force: their numbers are removed (free to be given to
    someone else); the officer stays, marked as left, for the requests that name them."""
    officer = get_officer(session, officer_id, for_update=True)
    if officer.left_at is not None:
        raise IllegalTransition(f"{label(officer)} is already marked as left.")
    removed = [masked(phone.number) for phone in officer.phones]
    officer.phones.clear()
    officer.left_at = now
    record_event(
        session,
        actor,
        "officer.left",
        now=now,
        subject=("officer", officer.id),
        detail={"numbers_removed": removed},
    )
    session.flush()
    return officer


# --- finding officers -------------------------------------------------------------------


@dataclass(frozen=True)
class OfficerPage:
    """One page of a search: the officers on it, how many matched, which page of how many."""

    officers: list[Officer]
    total: int
    page: int
    pages: int


def search_officers(
    session: Session, *, text: str = "", force: str = "", page: int = 1, per_page: int = PER_PAGE
) -> OfficerPage:
    """Officers matching ``text`` (collar number, name, or a number) in ``force``, if given."""
    conditions = [Officer.force == force] if force else []
    text = text.strip()
    if text:
        matches = [
            Officer.collar_number.startswith(re.sub(r"\s", "", text).upper(), autoescape=True),
            Officer.name.icontains(text, autoescape=True),
        ]
        digits = re.sub(r"\D", "", text)
        try:
            matches.append(Officer.phones.any(OfficerPhone.number == uk_number(text)))
        except InvalidInput:
            if len(digits) >= 3:
                matches.append(Officer.phones.any(OfficerPhone.number.contains(digits)))
        conditions.append(or_(*matches))
    total = session.scalar(select(func.count(Officer.id)).where(*conditions)) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    officers = session.scalars(
        select(Officer)
        .where(*conditions)
        .options(selectinload(Officer.phones))
        .order_by(Officer.force, Officer.collar_number)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return OfficerPage(list(officers), total, page, pages)

"""Police officers who phone or message the line."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from advice_line.models.base import Base


class Officer(Base):
    """An officer identified by force and collar (shoulder) number."""

    __tablename__ = "officer"
    __table_args__ = (sa.UniqueConstraint("force", "collar_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    force: Mapped[str] = mapped_column(sa.String(80))
    collar_number: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str | None] = mapped_column(sa.String(120))
    created_at: Mapped[datetime]
    #: When the officer left the force: their numbers are gone; the row stays for requests.
    left_at: Mapped[datetime | None]

    phones: Mapped[list[OfficerPhone]] = relationship(
        back_populates="officer", cascade="all, delete-orphan"
    )


class OfficerPhone(Base):
    """A phone number (E.164) of an officer; it identifies them only once verified.

    Verified means vouched for: by the force (its import) or by an admin who confirmed it
    with the officer; a number added by hand is unverified until then
    (docs/DOMAIN.md#the-officers-directory).
    """

    __tablename__ = "officer_phone"

    id: Mapped[int] = mapped_column(primary_key=True)
    officer_id: Mapped[int] = mapped_column(sa.ForeignKey("officer.id"), index=True)
    number: Mapped[str] = mapped_column(sa.String(20), unique=True)
    verified_at: Mapped[datetime | None]

    officer: Mapped[Officer] = relationship(back_populates="phones")

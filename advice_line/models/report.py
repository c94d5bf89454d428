"""A narrow row per request with what the managers' figures count, kept in step."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from advice_line.models.base import Base, str_enum
from advice_line.models.detention import PlaceOfSafetyUsed
from advice_line.models.request import AgeBand, Channel, RcrpPhase


class RequestFact(Base):
    """One request as the dashboard sees it: filters, flags and times already worked out.

    Written by ``advice_line.reports.facts`` whenever the request, its offers, record,
    detention or call-back tasks change, so a dashboard reads one narrow table without
    joins.
    """

    __tablename__ = "request_fact"
    __table_args__ = (
        sa.Index("ix_request_fact_received_hour", "received_hour"),
        sa.Index(
            "ix_request_fact_abandoned_received_hour",
            "received_hour",
            sqlite_where=sa.text("abandoned = 1"),
            postgresql_where=sa.text("abandoned = 1"),
        ),
        sa.Index(
            "ix_request_fact_detained_received_hour",
            "received_hour",
            sqlite_where=sa.text("detained = 1"),
            postgresql_where=sa.text("detained = 1"),
        ),
    )

    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("advice_request.id", ondelete="CASCADE"), primary_key=True
    )
    #: Whole hours since 1970-01-01 00:00 UTC when the request arrived.
    received_hour: Mapped[int]
    force: Mapped[str | None] = mapped_column(sa.String(80))
    area: Mapped[str | None] = mapped_column(sa.String(80))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "channel"))
    #: The clinician who took the request (its accepted offer).
    clinician_id: Mapped[int | None]
    rcrp_phase: Mapped[RcrpPhase | None] = mapped_column(str_enum(RcrpPhase, "rcrp_phase"))
    age_band: Mapped[AgeBand | None] = mapped_column(str_enum(AgeBand, "age_band"))
    #: 1 when the request reached the queue and was not cancelled, else 0 (summed).
    queued: Mapped[int] = mapped_column(sa.SmallInteger)
    #: Tenths of a second from first queued to taken (queued requests that were taken).
    answer_tenths: Mapped[int | None]
    #: 1 when the officer hung up before a clinician took the request, else 0.
    abandoned: Mapped[int] = mapped_column(sa.SmallInteger)
    #: Minutes from abandonment to the first call-back done (abandoned requests).
    call_back_minutes: Mapped[float | None]
    #: Call-back tasks of this request not yet done.
    call_backs_open: Mapped[int] = mapped_column(sa.SmallInteger)
    #: For a completed record: ``outcome|route|decision|age band|sex|ethnicity``.
    advice: Mapped[str | None] = mapped_column(sa.String(120))
    #: 1 when the officer reported detaining the person, else 0.
    detained: Mapped[int] = mapped_column(sa.SmallInteger)
    #: 1 when the detention has an arrival at the place of safety, else 0.
    arrived: Mapped[int] = mapped_column(sa.SmallInteger)
    #: Whole minutes, rounded up, from arrival at the place of safety to handover.
    handover_minutes: Mapped[int | None]
    #: 1 when the detention ended after its limit (24 hours from arrival, 36 extended).
    past_limit: Mapped[int] = mapped_column(sa.SmallInteger)
    #: While the detention runs (arrived, no end reported): its limit, in Unix seconds.
    must_end_by: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: 1 when a senior closed the request as a nuisance call (never queued), else 0.
    nuisance: Mapped[int] = mapped_column(sa.SmallInteger, server_default="0")
    #: Where a detained person was taken.
    place_used: Mapped[PlaceOfSafetyUsed | None] = mapped_column(
        str_enum(PlaceOfSafetyUsed, "place_of_safety_used")
    )

"""The dashboard's filter form and the drill-down's (read from the query string)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from advice_line.console.forms import choices
from advice_line.inputs import CleanForm, DateInputField
from advice_line.models import (
    AgeBand,
    Channel,
    CommunityRoute,
    Ethnicity,
    OutcomeCode,
    PlaceOfSafetyUsed,
    RcrpPhase,
    Sex,
)
from advice_line.reports.drill import DECISIONS, MEASURES, NOT_RECORDED, Drill
from advice_line.reports.labels import hour_label, label
from advice_line.reports.queries import DAYS, Filters

MAX_DAYS = 3 * 366


def _any(values: list[str], *, recorded: bool = False) -> list[tuple[str, str]]:
    unknown = [(NOT_RECORDED, "Not recorded")] if recorded else []
    return [("", "Any"), *((v, label(v)) for v in values), *unknown]


class Pick(SelectField):  # type: ignore[misc]
    """A list to pick from, which says so when given something not on it."""

    def pre_validate(self, form: Any) -> None:
        """Refuse a value that is not one of the choices, naming the field."""
        if self.data not in {str(c.value) for c in self.choices or ()}:
            raise ValidationError(f"Choose the {self.label.text.lower()} from the list.")


class FilterForm(CleanForm):
    """Period and filters; a GET form, so no CSRF token."""

    class Meta:
        csrf = False

    start = DateInputField("From", validators=[InputRequired()])
    end = DateInputField("To", validators=[InputRequired()])
    force = Pick("Force", default="")
    area = StringField("Area", validators=[Optional(), Length(max=80)])
    channel = Pick("Channel", choices=choices(_any([c.value for c in Channel])), default="")
    rcrp_phase = Pick("RCRP phase", choices=choices(_any([p.value for p in RcrpPhase])), default="")
    age_band = Pick("Age band", choices=choices(_any([a.value for a in AgeBand])), default="")
    clinician = Pick("Clinician", default="")

    def __init__(
        self,
        *args: Any,
        forces: Sequence[str] = (),
        clinicians: Sequence[tuple[int, str]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.force.choices = choices([("", "Any"), *((f, f) for f in forces)])
        self.clinician.choices = choices([("", "Any"), *((str(i), n) for i, n in clinicians)])

    def validate_end(self, field: DateInputField) -> None:
        """The period runs forwards and is at most about three years."""
        if self.start.data and field.data:
            if field.data < self.start.data:
                raise ValidationError("The end must not be before the start.")
            if field.data - self.start.data > timedelta(days=MAX_DAYS):
                raise ValidationError("Choose a period of at most three years.")

    def given(self) -> dict[str, str]:
        """The filters as applied (the default period too), as the audit log keeps them."""
        return {name: str(field.data) for name, field in self._fields.items() if field.data}

    def filters_given(self) -> dict[str, str]:
        """The dashboard's own filters as given (without what a figure counted)."""
        return {k: v for k, v in self.given().items() if k in FilterForm.__dict__}

    def filters_sent(self, sent: Mapping[str, str]) -> dict[str, str]:
        """The dashboard's own filters as sent, bad values too (a date's boxes included)."""
        return {k: v for k, v in sent.items() if k.split("-")[0] in FilterForm.__dict__}

    def filter_names(self) -> list[str]:
        """The fields that are also the dashboard's."""
        return [name for name in self._fields if name in FilterForm.__dict__]

    def filters(self) -> Filters:
        """The validated form as report filters."""
        return Filters(
            start=self.start.data,
            end=self.end.data,
            force=self.force.data or None,
            area=self.area.data or None,
            channel=Channel(self.channel.data) if self.channel.data else None,
            clinician_id=int(self.clinician.data) if self.clinician.data else None,
            rcrp_phase=RcrpPhase(self.rcrp_phase.data) if self.rcrp_phase.data else None,
            age_band=AgeBand(self.age_band.data) if self.age_band.data else None,
        )


def default_period(today: date) -> dict[str, str]:
    """The last 28 days up to today."""
    return {"start": (today - timedelta(days=27)).isoformat(), "end": today.isoformat()}


class DrillForm(FilterForm):
    """The dashboard's filters, what a figure counted, and the page of its requests."""

    measure = Pick("Figure", choices=choices(_any(list(MEASURES))), default="")
    hour = Pick(
        "Hour",
        choices=choices([("", "Any"), *((str(h), hour_label(h)) for h in range(24))]),
        default="",
    )
    weekday = Pick(
        "Day",
        choices=choices([("", "Any"), *((str(d), n) for d, n in enumerate(DAYS))]),
        default="",
    )
    outcome = Pick("Outcome", choices=choices(_any([o.value for o in OutcomeCode])), default="")
    s136 = Pick(
        "Section 136 advised",
        choices=choices([("", "Any"), ("yes", "Yes"), ("no", "No")]),
        default="",
    )
    community_route = Pick(
        "Community route",
        choices=choices(_any([c.value for c in CommunityRoute], recorded=True)),
        default="",
    )
    decision = Pick(
        "Officer's decision", choices=choices([("", "Any"), *DECISIONS.items()]), default=""
    )
    place_used = Pick(
        "Place of safety used",
        choices=choices(_any([p.value for p in PlaceOfSafetyUsed], recorded=True)),
        default="",
    )
    sex = Pick("Sex", choices=choices(_any([v.value for v in Sex], recorded=True)), default="")
    ethnicity = Pick(
        "Ethnicity", choices=choices(_any([v.value for v in Ethnicity], recorded=True)), default=""
    )
    age = Pick(
        "Age group", choices=choices(_any([v.value for v in AgeBand], recorded=True)), default=""
    )
    page = IntegerField(
        "Page", validators=[Optional(), NumberRange(min=1, max=1_000_000)], default=1
    )

    def drill(self) -> Drill:
        """What the figure counted."""
        groups = {n: getattr(self, n).data for n in ("sex", "ethnicity", "age")}
        return Drill(
            measure=self.measure.data or None,
            hour=int(self.hour.data) if self.hour.data else None,
            weekday=int(self.weekday.data) if self.weekday.data else None,
            outcome=self.outcome.data or None,
            s136_advised={"yes": True, "no": False}.get(self.s136.data),
            community_route=self.community_route.data or None,
            decision=self.decision.data or None,
            place_used=self.place_used.data or None,
            groups={n: v for n, v in groups.items() if v},
        )

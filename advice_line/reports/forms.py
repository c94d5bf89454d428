"""The dashboard's filter form (read from the query string)."""

from __future__ import annotations

from datetime import date, timedelta

from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from advice_line.console.forms import choices
from advice_line.inputs import MAX_ID, CleanForm, DateInputField
from advice_line.models import AgeBand, Channel, RcrpPhase
from advice_line.reports.queries import Filters

MAX_DAYS = 3 * 366


def _any(values: list[str]) -> list[tuple[str, str]]:
    return [("", "Any"), *((v, v.replace("_", " ")) for v in values)]


class FilterForm(CleanForm):
    """Period and filters; a GET form, so no CSRF token."""

    class Meta:
        csrf = False

    start = DateInputField("From", validators=[InputRequired()])
    end = DateInputField("To", validators=[InputRequired()])
    force = StringField("Force", validators=[Optional(), Length(max=80)])
    area = StringField("Area", validators=[Optional(), Length(max=80)])
    channel = SelectField("Channel", choices=choices(_any([c.value for c in Channel])), default="")
    rcrp_phase = SelectField(
        "RCRP phase", choices=choices(_any([p.value for p in RcrpPhase])), default=""
    )
    age_band = SelectField(
        "Age band", choices=choices(_any([a.value for a in AgeBand])), default=""
    )
    clinician = IntegerField(
        "Clinician number", validators=[Optional(), NumberRange(min=1, max=MAX_ID)]
    )

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

    def filters(self) -> Filters:
        """The validated form as report filters."""
        return Filters(
            start=self.start.data,
            end=self.end.data,
            force=self.force.data or None,
            area=self.area.data or None,
            channel=Channel(self.channel.data) if self.channel.data else None,
            clinician_id=self.clinician.data,
            rcrp_phase=RcrpPhase(self.rcrp_phase.data) if self.rcrp_phase.data else None,
            age_band=AgeBand(self.age_band.data) if self.age_band.data else None,
        )


def default_period(today: date) -> dict[str, str]:
    """The last 28 days up to today."""
    return {"start": (today - timedelta(days=27)).isoformat(), "end": today.isoformat()}

"""Console forms (Flask-WTF, CSRF on every one)."""

from __future__ import annotations

from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from advice_line.inputs import CleanForm
from advice_line.lifecycle import SAFEGUARDING_QUESTIONS, RecordInput
from advice_line.models import (
    AgeBand,
    CommunityRoute,
    Ethnicity,
    OutcomeCode,
    PlaceOfSafety,
    RcrpPhase,
    Sex,
)


def choices(pairs: list[tuple[str, str]]) -> list[SelectChoice]:
    """WTForms choices from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


OUTCOMES = choices(
    [
        (OutcomeCode.S136_ADVISED.value, "Section 136 advised"),
        (OutcomeCode.COMMUNITY_ROUTE.value, "Section 136 not advised: community route"),
        (OutcomeCode.S135_AMHP_ROUTE.value, "Section 135 warrant / AMHP assessment route"),
        (OutcomeCode.MEDICAL_EMERGENCY.value, "Medical emergency: ambulance"),
        (OutcomeCode.NO_MENTAL_HEALTH_ROLE.value, "No mental-health role"),
        (OutcomeCode.CLINICIAN_TO_ATTEND.value, "Clinician to attend"),
        (OutcomeCode.CALL_INCOMPLETE.value, "Call incomplete"),
    ]
)
PLACES = choices(
    [
        ("", "Not applicable"),
        (PlaceOfSafety.HEALTH_BASED.value, "Health-based place of safety"),
        (PlaceOfSafety.EMERGENCY_DEPARTMENT.value, "Emergency department"),
        (PlaceOfSafety.POLICE_STATION.value, "Police station (exceptional)"),
    ]
)
ROUTES = choices(
    [
        ("", "Not applicable"),
        (CommunityRoute.CRISIS_TEAM.value, "Crisis team"),
        (CommunityRoute.HOME_TREATMENT_TEAM.value, "Home treatment team"),
        (CommunityRoute.CRISIS_CAFE.value, "Crisis café / safe haven"),
        (CommunityRoute.GP.value, "GP"),
        (CommunityRoute.VOLUNTARY_ED.value, "Voluntary attendance at ED"),
        (CommunityRoute.NHS_111_OPTION_2.value, "NHS 111 option 2"),
    ]
)
YES_NO = choices([("yes", "Yes"), ("no", "No")])


def _optional(enum_values: list[str]) -> list[SelectChoice]:
    return choices([("", "Not recorded"), *((v, v.replace("_", " ")) for v in enum_values)])


class RecordForm(CleanForm):
    """The consultation record (docs/DOMAIN.md#consultation-record)."""

    outcome = RadioField("Advice given", choices=OUTCOMES, validators=[Optional()])
    place_of_safety = SelectField("Recommended place of safety", choices=PLACES)
    police_station_authorised = BooleanField(
        "Imminent risk of serious harm and an inspector has authorised a police station"
    )
    community_route = SelectField("Community route", choices=ROUTES)
    destination = StringField("Where the person is going now", validators=[Length(max=200)])
    rationale = TextAreaField("Rationale", validators=[Length(max=5000)])
    follow_up = StringField("Follow-up needed (creates a task)", validators=[Length(max=500)])
    under_18_in_crisis = RadioField(
        SAFEGUARDING_QUESTIONS["under_18_in_crisis"], choices=YES_NO, validators=[Optional()]
    )
    children_in_household = RadioField(
        SAFEGUARDING_QUESTIONS["children_in_household"], choices=YES_NO, validators=[Optional()]
    )
    person_is_carer = RadioField(
        SAFEGUARDING_QUESTIONS["person_is_carer"], choices=YES_NO, validators=[Optional()]
    )
    subject_age_band = SelectField(
        "Age band", choices=_optional([a.value for a in AgeBand]), default=""
    )
    subject_sex = SelectField("Sex", choices=_optional([s.value for s in Sex]), default="")
    subject_ethnicity = SelectField(
        "Ethnic group", choices=_optional([e.value for e in Ethnicity]), default=""
    )
    rcrp_phase = SelectField(
        "RCRP phase", choices=_optional([p.value for p in RcrpPhase]), default=""
    )
    area = StringField("Area (borough or district)", validators=[Length(max=80)])
    domestic_abuse = RadioField(
        SAFEGUARDING_QUESTIONS["domestic_abuse"], choices=YES_NO, validators=[Optional()]
    )

    def to_input(self) -> RecordInput:
        """The form's answers as the domain's record input."""
        answers = {
            question: getattr(self, question).data == "yes"
            for question in SAFEGUARDING_QUESTIONS
            if getattr(self, question).data in {"yes", "no"}
        }
        return RecordInput(
            outcome=OutcomeCode(self.outcome.data) if self.outcome.data else None,
            place_of_safety=PlaceOfSafety(self.place_of_safety.data)
            if self.place_of_safety.data
            else None,
            police_station_authorised=bool(self.police_station_authorised.data),
            community_route=CommunityRoute(self.community_route.data)
            if self.community_route.data
            else None,
            destination=(self.destination.data or "").strip() or None,
            rationale=(self.rationale.data or "").strip() or None,
            safeguarding=answers,
            follow_up=(self.follow_up.data or "").strip() or None,
            subject_age_band=AgeBand(self.subject_age_band.data)
            if self.subject_age_band.data
            else None,
            subject_sex=Sex(self.subject_sex.data) if self.subject_sex.data else None,
            subject_ethnicity=(
                Ethnicity(self.subject_ethnicity.data) if self.subject_ethnicity.data else None
            ),
            rcrp_phase=RcrpPhase(self.rcrp_phase.data) if self.rcrp_phase.data else None,
            area=(self.area.data or "").strip() or None,
        )


class MessageForm(CleanForm):
    """A clinician's message to the officer."""

    body = TextAreaField("Message to the officer", validators=[Length(min=1, max=1600)])


class ActionForm(CleanForm):
    """A button that only needs the CSRF token (mark done, end, call back, take)."""


class ReassignForm(CleanForm):
    """A senior gives a waiting request to a chosen clinician."""

    clinician_id = SelectField("Give to", coerce=int, choices=[])

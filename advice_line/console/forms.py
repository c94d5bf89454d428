"""Console forms (Flask-WTF, CSRF on every one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wtforms import IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from advice_line.clock import london_moment
from advice_line.inputs import CleanForm
from advice_line.lifecycle import SAFEGUARDING_QUESTIONS, DetentionReport, RecordInput
from advice_line.lifecycle.errors import InvalidInput
from advice_line.lifecycle.law import POLICE_STATION_CONDITIONS
from advice_line.models import (
    AgeBand,
    CommunityRoute,
    Conveyance,
    Ethnicity,
    OutcomeCode,
    PlaceOfSafety,
    PlaceOfSafetyUsed,
    PoliceVehicleReason,
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


YES_NO_NOT_KNOWN = choices([("yes", "Yes"), ("no", "No"), ("not_known", "Not known")])
#: The clinician's answer to a key question; blank leaves the officer's answer.
CONFIRM = choices([("", "As the officer said"), ("yes", "Yes"), ("no", "No")])
TRUTH = {"yes": True, "no": False}


def _yes_no(data: str | None) -> bool | None:
    return TRUTH.get(data or "")


def _choice(enum_class: type[Any], data: str | None) -> Any:
    """The chosen code, or None when nothing was chosen (``Optional`` lets blanks through)."""
    return enum_class(data) if data and data.strip() else None


class RecordForm(CleanForm):
    """The consultation record (docs/DOMAIN.md#consultation-record)."""

    outcome = RadioField("Advice given", choices=OUTCOMES, validators=[Optional()])
    risk_to_life = RadioField("Risk to life now?", choices=CONFIRM, default="")
    subject_under_18 = RadioField("Is the person under 18?", choices=CONFIRM, default="")
    in_dwelling = RadioField(
        "In a private dwelling (a house, flat or room where anyone lives, its garden or "
        "outbuildings)?",
        choices=CONFIRM,
        default="",
    )
    place_of_safety = SelectField("Recommended place of safety", choices=PLACES, default="")
    police_station_imminent_risk = RadioField(
        "The officer says the person's behaviour poses an imminent risk of serious injury or death",
        choices=YES_NO,
        validators=[Optional()],
    )
    police_station_no_other_place = RadioField(
        "The officer says no other place of safety can reasonably be expected",
        choices=YES_NO,
        validators=[Optional()],
    )
    police_station_health_professional = RadioField(
        "The officer says a health professional will be present at the police station",
        choices=YES_NO,
        validators=[Optional()],
    )
    police_station_inspector_authorised = RadioField(
        "The officer says an inspector (or above) has authorised it",
        choices=YES_NO,
        validators=[Optional()],
    )
    community_route = SelectField("Community route", choices=ROUTES, default="")
    destination = StringField("Where the person is going now", validators=[Length(max=200)])
    rationale = TextAreaField("Rationale", validators=[Length(max=5000)])
    follow_up = StringField("Follow-up needed (creates a task)", validators=[Length(max=500)])
    follow_up_due = StringField(
        "Follow-up due (London time, such as 22:00 or 30/11/2026 09:00)",
        validators=[Length(max=20)],
    )
    subject_age = IntegerField("Age in years, if known", validators=[Optional()])
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
    under_18_in_crisis = RadioField(
        SAFEGUARDING_QUESTIONS["under_18_in_crisis"],
        choices=YES_NO_NOT_KNOWN,
        validators=[Optional()],
    )
    children_in_household = RadioField(
        SAFEGUARDING_QUESTIONS["children_in_household"],
        choices=YES_NO_NOT_KNOWN,
        validators=[Optional()],
    )
    person_is_carer = RadioField(
        SAFEGUARDING_QUESTIONS["person_is_carer"],
        choices=YES_NO_NOT_KNOWN,
        validators=[Optional()],
    )
    domestic_abuse = RadioField(
        SAFEGUARDING_QUESTIONS["domestic_abuse"],
        choices=YES_NO_NOT_KNOWN,
        validators=[Optional()],
    )
    vulnerable_adult = RadioField(
        SAFEGUARDING_QUESTIONS["vulnerable_adult"],
        choices=YES_NO_NOT_KNOWN,
        validators=[Optional()],
    )
    looked_after_child = RadioField(
        SAFEGUARDING_QUESTIONS["looked_after_child"],
        choices=YES_NO_NOT_KNOWN,
        validators=[Optional()],
    )

    def to_input(self, now: datetime) -> RecordInput:
        """The form's answers as the domain's record input (``InvalidInput`` for a bad time)."""
        due_text = (self.follow_up_due.data or "").strip()
        try:
            due = london_moment(due_text, now, future=True) if due_text else None
        except ValueError as error:
            raise InvalidInput({"follow_up_due": str(error)}) from None
        return RecordInput(
            outcome=_choice(OutcomeCode, self.outcome.data),
            place_of_safety=_choice(PlaceOfSafety, self.place_of_safety.data),
            **{name: _yes_no(getattr(self, name).data) for name in POLICE_STATION_CONDITIONS},
            community_route=_choice(CommunityRoute, self.community_route.data),
            destination=(self.destination.data or "").strip() or None,
            rationale=(self.rationale.data or "").strip() or None,
            safeguarding={
                question: _yes_no(getattr(self, question).data)
                for question in SAFEGUARDING_QUESTIONS
                if getattr(self, question).data in {"yes", "no", "not_known"}
            },
            follow_up=(self.follow_up.data or "").strip() or None,
            follow_up_due_at=due,
            risk_to_life=_yes_no(self.risk_to_life.data),
            subject_under_18=_yes_no(self.subject_under_18.data),
            in_dwelling=_yes_no(self.in_dwelling.data),
            subject_age=self.subject_age.data,
            subject_age_band=_choice(AgeBand, self.subject_age_band.data),
            subject_sex=_choice(Sex, self.subject_sex.data),
            subject_ethnicity=_choice(Ethnicity, self.subject_ethnicity.data),
            rcrp_phase=_choice(RcrpPhase, self.rcrp_phase.data),
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


class ThirdPartyForm(CleanForm):
    """The holder brings someone into the call: a clinician of the line or a directory entry."""

    who = SelectField("Bring in", choices=[])
    mode = RadioField(
        "How",
        choices=choices(
            [
                ("private", "Privately first (the officer hears hold music)"),
                ("together", "Together with the officer"),
            ]
        ),
        default="private",
    )


TIME_HINT = "London time, such as 14:05 or 29/11/2026 23:50"


class DetentionForm(CleanForm):
    """The officer's decision and the detention, entered on the officer's word."""

    decision = SelectField(
        "The officer's decision",
        choices=choices(
            [("", "Not reported"), ("detained", "Detained"), ("not_detained", "Not detained")]
        ),
        default="",
    )
    detained_at = StringField(f"Detained at ({TIME_HINT})", validators=[Length(max=20)])
    arrived_at = StringField(
        f"Arrived at the place of safety ({TIME_HINT})", validators=[Length(max=20)]
    )
    handed_over_at = StringField(
        f"Handed over to health staff ({TIME_HINT})", validators=[Length(max=20)]
    )
    ended_at = StringField(
        f"Detention ended: assessed, admitted or released ({TIME_HINT})",
        validators=[Length(max=20)],
    )
    place_of_safety_used = SelectField(
        "Place of safety used", choices=_optional([p.value for p in PlaceOfSafetyUsed]), default=""
    )
    conveyance = SelectField(
        "Taken there by", choices=_optional([c.value for c in Conveyance]), default=""
    )
    police_vehicle_reason = SelectField(
        "Why a police vehicle",
        choices=_optional([r.value for r in PoliceVehicleReason]),
        default="",
    )

    def times(self, now: datetime) -> dict[str, datetime]:
        """The times given, read as London time (``InvalidInput`` naming a bad one)."""
        given: dict[str, datetime] = {}
        for name in ("detained_at", "arrived_at", "handed_over_at", "ended_at"):
            text = (getattr(self, name).data or "").strip()
            if not text:
                continue
            try:
                given[name] = london_moment(text, now, future=False)
            except ValueError as error:
                raise InvalidInput({name: str(error)}) from None
        return given

    def report(self, now: datetime) -> DetentionReport:
        """The detention as the domain's report."""
        times = self.times(now)
        return DetentionReport(
            detained_at=times.get("detained_at"),
            arrived_at=times.get("arrived_at"),
            handed_over_at=times.get("handed_over_at"),
            ended_at=times.get("ended_at"),
            place_of_safety_used=_choice(PlaceOfSafetyUsed, self.place_of_safety_used.data),
            conveyance=_choice(Conveyance, self.conveyance.data),
            police_vehicle_reason=_choice(PoliceVehicleReason, self.police_vehicle_reason.data),
        )


class ReferralForm(CleanForm):
    """What was done about a task: for safeguarding, the referral made (or why none)."""

    agency = StringField("Agency told", validators=[Length(max=120)])
    reference = StringField("Their reference", validators=[Length(max=60)])
    outcome = StringField("What was done", validators=[Length(max=500)])

"""Clinicians' administration: profession, registration and its dates, skills, phone."""

from __future__ import annotations

import dataclasses
from datetime import date

import click
from flask import abort, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from advice_line.admin.cli import run_command
from advice_line.admin.routes import bp, section
from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.inputs import CleanForm, DateInputField
from advice_line.lifecycle.errors import DomainError, InvalidInput
from advice_line.lifecycle.qualification import london_today
from advice_line.lifecycle.registrations import (
    CONSOLE_ROLES,
    ClinicianDetails,
    details_of,
    lapse_warning,
    set_clinician_details,
)
from advice_line.models import Clinician, Profession, RegistrationBody, Skill, User
from advice_line.transaction import Work, current_policy, run, signed_in_actor


class ClinicianForm(CleanForm):
    """A clinician's details; the domain checks them (``set_clinician_details``)."""

    profession = SelectField(
        "Profession",
        choices=[SelectChoice(p.value, p.value.replace("_", " ")) for p in Profession],
        validate_choice=False,
    )
    registration_body = SelectField(
        "Registration body",
        choices=[
            SelectChoice("", "None"),
            *(SelectChoice(b.value, b.value) for b in RegistrationBody),
        ],
        validate_choice=False,
    )
    registration_number = StringField("Registration number")
    verified_on = DateInputField("Register last checked on")
    lapses_on = DateInputField("Registration lapses on")
    skills = SelectMultipleField(
        "Skills",
        choices=[SelectChoice(s.value, s.value.replace("_", " ")) for s in Skill],
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    phone = StringField("Phone")

    def details(self) -> ClinicianDetails:
        """The form's values for ``set_clinician_details``."""
        return ClinicianDetails(
            profession=self.profession.data or "",
            registration_body=self.registration_body.data or "",
            registration_number=self.registration_number.data or "",
            verified_on=self.verified_on.data.isoformat() if self.verified_on.data else "",
            lapses_on=self.lapses_on.data.isoformat() if self.lapses_on.data else "",
            skills=tuple(self.skills.data or ()),
            phone=self.phone.data or "",
        )

    def fill(self, details: ClinicianDetails) -> None:
        """Show a clinician's current details."""
        for name, value in dataclasses.asdict(details).items():
            if isinstance(self[name], DateInputField):
                self[name].show(date.fromisoformat(value) if value else None)
            else:
                self[name].data = list(value) if name == "skills" else value


def _console_account(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or user.role not in CONSOLE_ROLES:
        abort(404)
    return user


@bp.get("/clinicians")
@section("Clinicians", "Professions, registrations and when they lapse, skills, phones.", order=20)
def clinicians() -> str:
    """Every account with a console role, and its clinician's details; lapses marked."""
    users = db.session.scalars(
        select(User)
        .where(User.role.in_(CONSOLE_ROLES))
        .options(selectinload(User.clinician).selectinload(Clinician.skills))
        .order_by(User.display_name)
    ).all()
    now, policy = utcnow(), current_policy()
    warnings: dict[int, date | None] = {
        user.id: lapse_warning(user.clinician, now=now, policy=policy) if user.clinician else None
        for user in users
    }
    return render_template(
        "admin/clinicians.html", users=users, warnings=warnings, today=london_today(now)
    )


@bp.route("/clinicians/<int:user_id>", methods=["GET", "POST"])
def clinician(user_id: int) -> ResponseReturnValue:
    """Edit one console account's clinician details; bad input is shown and nothing kept."""
    user = _console_account(user_id)
    form = ClinicianForm()
    if not form.is_submitted() and user.clinician is not None:
        form.fill(details_of(user.clinician))
    if not form.is_submitted():
        return render_template("admin/clinician.html", user=user, form=form)
    if not form.validate():
        return render_template("admin/clinician.html", user=user, form=form), 400

    def save(work: Work) -> ResponseReturnValue:
        set_clinician_details(work.session, user_id, form.details(), now=work.now, actor=work.actor)
        work.tell(f"{user.display_name}'s details are saved.")
        return redirect(url_for("admin.clinicians"))

    def refused(error: DomainError) -> ResponseReturnValue:
        errors = error.errors if isinstance(error, InvalidInput) else {"profession": str(error)}
        for field, message in errors.items():
            form[field if field in form else "profession"].errors.append(message)
        return render_template(
            "admin/clinician.html", user=_console_account(user_id), form=form
        ), 400

    return run(save, signed_in_actor(), refused)


# --- flask clinicians ... ---------------------------------------------------------------


@bp.cli.group("clinicians")
def clinicians_cli() -> None:
    """Clinicians' profession, registration, its dates, skills and phone."""


@clinicians_cli.command("set")
@click.argument("username")
@click.option("--profession", help="doctor, nurse, amhp, occupational_therapist, ...")
@click.option("--body", help="The registration body: GMC, NMC, HCPC or SWE.")
@click.option("--number", help="The registration number, as the body prints it.")
@click.option("--verified-on", help="When the register was last checked (YYYY-MM-DD).")
@click.option("--lapses-on", help="When the registration lapses (YYYY-MM-DD).")
@click.option("--skill", "skills", multiple=True, help="A skill (repeat for more); replaces all.")
@click.option("--phone", help="A UK phone number.")
def set_command(username: str, skills: tuple[str, ...], **given: str | None) -> None:
    """Set a console account's clinician details; what is not given stays as it was."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"No staff account is called {username!r}.")
    current = details_of(user.clinician) if user.clinician else ClinicianDetails("")
    names = {"body": "registration_body", "number": "registration_number"}
    changes: dict[str, str | tuple[str, ...]] = {
        names.get(k, k): v for k, v in given.items() if v is not None
    }
    if skills:
        changes["skills"] = skills
    details = dataclasses.replace(current, **changes)  # type: ignore[arg-type]
    run_command(
        "clinicians set",
        lambda work: set_clinician_details(
            work.session, user.id, details, now=work.now, actor=work.actor
        ),
    )
    click.echo(f"{username}'s clinician details are saved.")


@clinicians_cli.command("list")
def list_command() -> None:
    """List console accounts' registrations, marking those lapsed or lapsing soon."""
    now, policy = utcnow(), current_policy()
    users = db.session.scalars(
        select(User).where(User.role.in_(CONSOLE_ROLES)).order_by(User.username)
    ).all()
    for user in users:
        c = user.clinician
        if c is None:
            click.echo(f"{user.username}\tno clinician details")
            continue
        registration = (
            f"{c.registration_body} {c.registration_number}" if c.registration_body else "none"
        )
        warning = lapse_warning(c, now=now, policy=policy)
        mark = ""
        if warning is not None:
            mark = "\tLAPSED" if warning <= london_today(now) else "\tLAPSING SOON"
        verified, lapses = c.registration_verified_on or "-", c.registration_lapses_on or "-"
        skills = ",".join(sorted(c.skill_set)) or "-"
        click.echo(
            f"{user.username}\t{c.profession.value}\t{registration}"
            f"\tverified {verified}\tlapses {lapses}\t{skills}{mark}"
        )

"""Pages that change channels: create, settings, members, ownership, deletion of the
channel or of one package file."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from starlette.responses import Response

from taipan.accounts.principal import Role
from taipan.channels import members, profile, service
from taipan.errors import Forbidden, InvalidInput, TaipanError
from taipan.packages import read_model
from taipan.packages.remove import delete_file
from taipan.publishing import publishers
from taipan.web.deps import Address, Svc
from taipan.web.errors import status_for
from taipan.web.params import Id
from taipan.web.ui import forms
from taipan.web.ui.forms import Form, ViewerDep
from taipan.web.ui.pages import PageRoute, page, redirect, url_part

router = APIRouter(route_class=PageRoute, include_in_schema=False)
ROLES = ("viewer", "contributor", "owner")
PUBLISHER_FIELDS = {
    "github": ("owner", "repository", "workflow", "environment"),
    "gitlab": ("namespace", "project", "config_path", "environment"),
    "google": ("email", "subject"),
}


# -- create ---------------------------------------------------------------------------------


@router.get("/new")
def new_channel_page(request: Request, visitor: ViewerDep) -> Response:
    visitor.user()
    values = {"name": "", "description": "", "private": False, "avatar_url": ""}
    return page(request, visitor, "channel_new.html", values=values, error="")


@router.post("/new")
def new_channel(request: Request, svc: Svc, form: Form) -> Response:
    who = form.visitor.user()
    values = {
        "name": form.get("name").strip(),
        "description": form.get("description"),
        "private": form.get("visibility") == "private",
        "avatar_url": form.get("avatar_url").strip(),
    }
    try:
        avatar = profile.check_avatar_url(str(values["avatar_url"]))
        name = str(values["name"])
        service.create_channel(svc.db, who, name, str(values["description"]), private=bool(values["private"]))
        if avatar:
            profile.set_avatar(svc.db, who, name, avatar)
    except TaipanError as exc:
        return page(request, form.visitor, "channel_new.html", status_for(exc), values=values, error=str(exc))
    return redirect(f"/channels/{url_part(name)}")


# -- settings -------------------------------------------------------------------------------


def _settings_page(
    request: Request, svc: Svc, visitor: forms.Visitor, name: str, status: int = 200, error: str = "", notice: str = ""
) -> Response:
    view = read_model.channel_view(svc.db, visitor.who, name, counts=False)
    if view.role != Role.OWNER:
        raise Forbidden(f"only the owner of {name!r} may change its settings")
    return page(
        request,
        visitor,
        "channel_settings.html",
        status,
        channel=view,
        members=members.list_members(svc.db, visitor.who, name),
        publishers=publishers.list_publishers(svc.db, visitor.who, name),
        roles=ROLES,
        error=error,
        notice=notice,
    )


@router.get("/channels/{name}/settings")
def settings_page(request: Request, name: str, svc: Svc, visitor: ViewerDep) -> Response:
    visitor.user()
    return _settings_page(request, svc, visitor, name)


def _attempt(
    request: Request, svc: Svc, form: forms.Posted, name: str, done: str, action: Callable[[], object]
) -> Response:
    """Run ``action``; then show the settings page with ``done`` or with the error."""
    try:
        action()
    except TaipanError as exc:
        return _settings_page(request, svc, form.visitor, name, status_for(exc), error=str(exc))
    return _settings_page(request, svc, form.visitor, name, notice=done)


@router.post("/channels/{name}/settings")
def update_general(request: Request, name: str, svc: Svc, form: Form, address: Address) -> Response:
    who = form.visitor.user()

    def change() -> None:
        avatar = profile.check_avatar_url(form.get("avatar_url"))
        private = form.get("visibility") == "private"
        service.update_channel(svc.db, who, name, description=form.get("description"), private=private, address=address)
        profile.set_avatar(svc.db, who, name, avatar)

    return _attempt(request, svc, form, name, "Settings saved.", change)


@router.post("/channels/{name}/members")
def set_member(request: Request, name: str, svc: Svc, form: Form, address: Address) -> Response:
    who = form.visitor.user()
    username, role_text = form.get("username").strip(), form.get("role")

    def change() -> None:
        if not username:
            raise InvalidInput("say whom to add: their user name")
        role = _role(role_text)
        if role == Role.OWNER:
            members.transfer(svc.db, who, name, username, address)
        else:
            members.set_member(svc.db, who, name, username, role, address)

    if _role_or_none(role_text) == Role.OWNER:
        # The owner is no longer the caller: their settings page would now be refused.
        try:
            change()
        except TaipanError as exc:
            return _settings_page(request, svc, form.visitor, name, status_for(exc), error=str(exc))
        return redirect(f"/channels/{url_part(name)}")
    return _attempt(request, svc, form, name, f"{username} is now a {role_text}.", change)


@router.post("/channels/{name}/members/{username}/remove")
def remove_member(request: Request, name: str, username: str, svc: Svc, form: Form, address: Address) -> Response:
    who = form.visitor.user()
    return _attempt(
        request,
        svc,
        form,
        name,
        f"{username} is no longer a member.",
        lambda: members.remove_member(svc.db, who, name, username, address),
    )


@router.post("/channels/{name}/publishers")
def add_publisher(request: Request, name: str, svc: Svc, form: Form, address: Address) -> Response:
    who = form.visitor.user()
    provider = form.get("provider")
    fields = {f: form.get(f).strip() or None for f in PUBLISHER_FIELDS.get(provider, ())}
    given = publishers.PublisherIn(provider, **fields)
    return _attempt(
        request,
        svc,
        form,
        name,
        "Trusted publisher added.",
        lambda: publishers.add_publisher(svc.db, who, name, given, svc.settings.oidc_issuers, address),
    )


@router.post("/channels/{name}/publishers/{publisher_id}/remove")
def remove_publisher(request: Request, name: str, publisher_id: Id, svc: Svc, form: Form, address: Address) -> Response:
    who = form.visitor.user()
    return _attempt(
        request,
        svc,
        form,
        name,
        "Trusted publisher removed.",
        lambda: publishers.remove_publisher(svc.db, who, name, publisher_id, address),
    )


@router.post("/channels/{name}/transfer")
def transfer(request: Request, name: str, svc: Svc, form: Form, address: Address) -> Response:
    who = form.visitor.user()
    username = form.get("username").strip()
    try:
        if form.get("confirm") != name:
            raise InvalidInput(f"type the channel's name, {name}, to confirm the transfer")
        if not username:
            raise InvalidInput("say who the new owner is: their user name")
        members.transfer(svc.db, who, name, username, address)
    except TaipanError as exc:
        return _settings_page(request, svc, form.visitor, name, status_for(exc), error=str(exc))
    return redirect(f"/channels/{url_part(name)}")


@router.post("/channels/{name}/delete")
def delete_channel(request: Request, name: str, svc: Svc, form: Form, address: Address) -> Response:
    who = form.visitor.user()
    try:
        service.delete_channel(svc.db, svc.storage, who, name, form.get("confirm"), address)
    except TaipanError as exc:
        return _settings_page(request, svc, form.visitor, name, status_for(exc), error=str(exc))
    return redirect("/")


def _role(text: str) -> Role:
    role = _role_or_none(text)
    if role is None:
        raise InvalidInput(f"unknown role {text!r}: choose viewer, contributor or owner")
    return role


def _role_or_none(text: str) -> Role | None:
    try:
        return Role.parse(text)
    except ValueError:
        return None


# -- one package file ---------------------------------------------------------------------


@router.get("/channels/{name}/files/{subdir}/{filename}/delete")
def delete_file_page(request: Request, name: str, subdir: str, filename: str, svc: Svc, visitor: ViewerDep) -> Response:
    visitor.user()
    view = read_model.channel_view(svc.db, visitor.who, name, counts=False)
    if view.role is None or view.role < Role.CONTRIBUTOR:
        raise Forbidden(f"deleting files needs the contributor role in {name!r}")
    package = filename.rsplit("-", 2)[0]
    return page(
        request, visitor, "file_delete.html", channel=view, subdir=subdir, filename=filename, package=package, error=""
    )


@router.post("/channels/{name}/files/{subdir}/{filename}/delete")
def delete_one_file(
    request: Request, name: str, subdir: str, filename: str, svc: Svc, form: Form, address: Address
) -> Response:
    who = form.visitor.user()
    package = filename.rsplit("-", 2)[0]
    delete_file(svc.db, svc.storage, who, name, subdir, filename, address)
    return redirect(f"/channels/{url_part(name)}/packages/{url_part(package)}")

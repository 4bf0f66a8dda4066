"""JSON API for a channel's trusted publishers (owner only)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from taipan.publishing import publishers
from taipan.publishing.publishers import Publisher, PublisherIn
from taipan.web.deps import Address, Caller, Svc
from taipan.web.params import Id

router = APIRouter(prefix="/api/v1/channels", tags=["trusted publishers"])

Text = Field(default=None, max_length=255)


class PublisherBody(BaseModel):
    """GitHub: owner, repository, workflow (file name), environment?. GitLab: namespace,
    project, config_path, environment?. Google: email and/or subject."""

    provider: Literal["github", "gitlab", "google"]
    owner: str | None = Field(default=None, max_length=255, examples=["my-org"])
    repository: str | None = Field(default=None, max_length=255, examples=["my-recipes"])
    workflow: str | None = Field(default=None, max_length=255, examples=["release.yml"])
    namespace: str | None = Text
    project: str | None = Text
    config_path: str | None = Field(default=None, max_length=255, examples=[".gitlab-ci.yml"])
    environment: str | None = Text
    email: str | None = Text
    subject: str | None = Text


@router.get("/{name}/publishers", summary="List the channel's trusted publishers (owner)")
def list_publishers(name: str, svc: Svc, who: Caller) -> list[Publisher]:
    return publishers.list_publishers(svc.db, who, name)


@router.post("/{name}/publishers", status_code=201, summary="Trust a CI identity to upload with OIDC (owner)")
def add_publisher(name: str, body: PublisherBody, svc: Svc, who: Caller, address: Address) -> Publisher:
    given = PublisherIn(**body.model_dump())
    return publishers.add_publisher(svc.db, who, name, given, svc.settings.oidc_issuers, address)


@router.delete("/{name}/publishers/{publisher_id}", status_code=204, summary="Stop trusting a publisher (owner)")
def remove_publisher(name: str, publisher_id: Id, svc: Svc, who: Caller, address: Address) -> Response:
    publishers.remove_publisher(svc.db, who, name, publisher_id, address)
    return Response(status_code=204)

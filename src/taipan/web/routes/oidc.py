"""Trusted publishing's exchange: a CI's OIDC token in, a short-lived upload key out.

rattler-build and pixi POST ``{"token": "<JWT>"}`` here (the path is absolute: any path
in their ``--url`` is dropped) and use the *whole raw body* of any 2xx as the bearer
token: no JSON, no trailing newline, or the Authorization header they build breaks.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from taipan.errors import Unauthenticated
from taipan.publishing.oidc.verify import MAX_TOKEN_CHARS
from taipan.publishing.publishers import mint_upload_key
from taipan.web.deps import Address, Svc

router = APIRouter(tags=["trusted publishing"])


class MintIn(BaseModel):
    token: str = Field(max_length=MAX_TOKEN_CHARS, description="The CI provider's OIDC ID token (a JWT).")


@router.post(
    "/api/oidc/mint_token",
    summary="Trade a CI's OIDC token for a short-lived upload key",
    description=(
        "Answers 200 with the key alone as a text/plain body. The key uploads only to the channels "
        "whose trusted publishers match the token, and expires within 15 minutes. A refused token "
        'answers 401 with {"error"} naming the failed check; a valid token no publisher trusts, 403.'
    ),
    responses={200: {"content": {"text/plain": {"example": "taipan-AbC..."}}}},
)
def mint_token(body: MintIn, svc: Svc, address: Address) -> Response:
    svc.limiter.check(address)
    try:
        key = mint_upload_key(svc.db, svc.oidc, body.token, svc.settings.oidc_key_ttl, address)
    except Unauthenticated:
        svc.limiter.failed(address)
        raise
    return Response(content=key.encode("ascii"), media_type="text/plain", headers={"Cache-Control": "no-store"})

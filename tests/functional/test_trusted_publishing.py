"""Trusted publishing end to end: a local OIDC issuer (real RSA and EC keys, discovery,
JWKS) stands in for GitHub, GitLab and Google; tokens are traded for upload keys at
/api/oidc/mint_token exactly as rattler-build and pixi do, then used to upload (with a
Sigstore attestation) and installed with py-rattler."""

from __future__ import annotations

import base64
import html
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.support import accounts, cli, packages, rattler_client
from tests.support.accounts import bearer
from tests.support.oidc_issuer import (
    Issuers,
    SigningKey,
    github_claims,
    gitlab_claims,
    google_claims,
    running_issuers,
)
from tests.support.packages import Spec
from tests.support.server import Server, free_port
from tests.support.ui import post_form, sign_in, text_of
from tests.support.upload import upload_multipart, upload_raw

SHORT_TTL = 4
AUDIENCE = "127.0.0.1"  # the servers' public URL is http://127.0.0.1:<port>
KEY_RE = re.compile(rb"taipan-[A-Za-z0-9]{40}")
PROVIDERS = ("github", "gitlab", "google")


@pytest.fixture(scope="module")
def issuers() -> Iterator[Issuers]:
    with running_issuers(*PROVIDERS, "stranger") as running:
        yield running


def _env(issuers: Issuers, **extra: str) -> dict[str, str | None]:
    return {
        "TAIPAN_OIDC_ISSUERS": json.dumps({p: issuers.url(p) for p in PROVIDERS}),
        "TAIPAN_AUTH_FAILURE_LIMIT": "1000000",
        "TAIPAN_OIDC_JWKS_REFETCH_INTERVAL": "0.5",
        **extra,
    }


@pytest.fixture(scope="module")
def srv(server_factory, issuers: Issuers) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    with server_factory(_env(issuers)) as running:
        yield running


@pytest.fixture(scope="module")
def down_issuer() -> str:
    """An issuer URL where nothing answers."""
    return f"http://127.0.0.1:{free_port()}/down"


@pytest.fixture(scope="module")
def short_srv(server_factory, issuers: Issuers, down_issuer: str) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    """Keys live SHORT_TTL seconds; prefix.dev's audience is accepted; no GitLab; Google's issuer cannot be reached."""
    issuer_urls = {"github": issuers.url("github"), "google": down_issuer}
    env = _env(
        issuers,
        TAIPAN_OIDC_KEY_TTL=str(SHORT_TTL),
        TAIPAN_OIDC_ACCEPT_PREFIX_AUDIENCE="true",
        TAIPAN_OIDC_ISSUERS=json.dumps(issuer_urls),
    )
    with server_factory(env) as running:
        yield running


def _owned_channel(server: Server, *, private: bool = False) -> tuple[str, str]:
    """A new channel of a new user: (channel, owner's key)."""
    owner = accounts.new_user(server, "tp")
    key = accounts.new_key(server, owner)
    return accounts.new_channel(server, key, private=private, prefix="tp"), key


def _trust(server: Server, owner_key: str, channel: str, **body: str) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, headers=bearer(owner_key)) as http:
        response = http.post(f"/api/v1/channels/{channel}/publishers", json=body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def _mint(server: Server, token: str) -> httpx.Response:
    """What rattler_upload sends: JSON with the token, no Authorization header."""
    with httpx.Client(base_url=server.url) as http:
        return http.post("/api/oidc/mint_token", json={"token": token})


def _minted(server: Server, token: str) -> str:
    response = _mint(server, token)
    assert response.status_code == 200, response.text
    return response.text


def _names() -> tuple[str, str]:
    return f"org-{uuid.uuid4().hex[:8]}", f"recipes-{uuid.uuid4().hex[:6]}"


def _attestation(path: Path) -> bytes:
    """A Sigstore bundle of the shape rattler-build --generate-attestation uploads (signature made up)."""
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": path.name, "digest": {"sha256": packages.sha256_of(path)}}],
        "predicateType": "https://schemas.conda.org/attestations-publish-1.schema.json",
        "predicate": {"targetChannel": "http://127.0.0.1/chan"},
    }
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"certificate": {"rawBytes": base64.b64encode(b"not a real cert").decode()}},
        "dsseEnvelope": {
            "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": base64.b64encode(b"not a real signature").decode()}],
        },
    }
    return json.dumps(bundle).encode()


def _publisher_and_token(issuers: Issuers, server: Server, owner_key: str, channel: str, provider: str, kind: str):  # type: ignore[no-untyped-def]
    """Trust a fresh identity of ``provider`` on ``channel``; a good token for it (signed with an ``kind`` key);
    the uploader string the server should record."""
    owner, repo = _names()
    key = next(k for k in issuers.tenants[provider].keys if k.alg.startswith("RS" if kind == "RSA" else "ES"))
    if provider == "github":
        _trust(server, owner_key, channel, provider="github", owner=owner, repository=repo, workflow="release.yml")
        claims = github_claims(AUDIENCE, owner, repo, "release.yml", run_id="31337")
        who = f"github:{owner}/{repo} release.yml run 31337"
    elif provider == "gitlab":
        _trust(
            server,
            owner_key,
            channel,
            provider="gitlab",
            namespace=f"{owner}/sub",
            project=repo,
            config_path="ci/release.yml",
            environment="release",
        )
        claims = gitlab_claims(
            AUDIENCE, issuers.url("gitlab"), f"{owner}/sub", repo, "ci/release.yml", environment="release"
        )
        who = f"gitlab:{owner}/sub/{repo} ci/release.yml pipeline 777"
    else:
        email = f"{owner}@builders.iam.gserviceaccount.com"
        _trust(server, owner_key, channel, provider="google", email=email)
        claims = google_claims(AUDIENCE, email)
        who = f"google:{email}"
    return issuers.sign(provider, claims, key=key), who


@pytest.mark.parametrize(
    ("provider", "kind"), [("github", "RSA"), ("gitlab", "EC"), ("google", "EC"), ("github", "EC")]
)
def test_mint_upload_install(
    srv: Server, issuers: Issuers, pkgdir: Path, tmp_path: Path, provider: str, kind: str
) -> None:
    channel, owner_key = _owned_channel(srv)
    token, who = _publisher_and_token(issuers, srv, owner_key, channel, provider, kind)

    response = _mint(srv, token)
    assert response.status_code == 200, response.text
    assert KEY_RE.fullmatch(response.content), response.content  # the key alone: no JSON, no newline
    assert response.headers["content-type"].startswith("text/plain")
    key = response.text

    pkg = packages.build(Spec(f"tp-{provider}-pkg", depends=[]), pkgdir)
    bundle = _attestation(pkg)
    with httpx.Client(base_url=srv.url, headers=bearer(key)) as http:
        uploaded = upload_multipart(http, channel, pkg, attestation=bundle)
        assert uploaded.status_code == 200, uploaded.text
        files = http.get(f"/api/v1/channels/{channel}/files").json()
        served = http.get(f"/{channel}/noarch/{pkg.name}.sigstore.json")
    assert [(f["filename"], f["uploader"], f["has_attestation"]) for f in files] == [(pkg.name, who, True)]
    assert served.status_code == 200
    assert served.content == bundle
    assert served.headers["content-type"].startswith("application/json")

    with httpx.Client(base_url=srv.url, headers=bearer(owner_key)) as http:
        events = http.get(f"/api/v1/channels/{channel}/audit").json()
    uploaded_event = next(e for e in events if e["action"] == "package_uploaded")
    assert uploaded_event["actor"] == who
    minted_event = next(e for e in events if e["action"] == "publisher_key_minted")
    assert minted_event["actor"] == who

    with httpx.Client(base_url=srv.url) as anonymous:  # the package page says who uploaded it, and links the bundle
        page = anonymous.get(f"/channels/{channel}/packages/tp-{provider}-pkg")
    assert page.status_code == 200
    assert who in html.unescape(page.text)
    assert f'href="/{channel}/noarch/{pkg.name}.sigstore.json"' in page.text

    result = rattler_client.solve(
        [f"{srv.url}/{channel}"], [f"tp-{provider}-pkg"], tmp_path / "cache", prefix=tmp_path / "env"
    )
    assert result["ok"], result
    assert [r["name"] for r in result["records"]] == [f"tp-{provider}-pkg"]
    assert len(result["installed"]) == 1


def _tamper(token: str) -> str:
    """The same header and signature over claims changed afterwards."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["run_id"] = "999999"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.fixture(scope="module")
def trusted(srv: Server) -> tuple[str, str, str, str]:
    """A channel trusting one GitHub workflow in environment 'production': (channel, owner key, owner, repo)."""
    channel, owner_key = _owned_channel(srv)
    owner, repo = _names()
    _trust(
        srv,
        owner_key,
        channel,
        provider="github",
        owner=owner,
        repository=repo,
        workflow="release.yml",
        environment="production",
    )
    return channel, owner_key, owner, repo


def _good(owner: str, repo: str, **changes: Any) -> dict[str, Any]:
    return {**github_claims(AUDIENCE, owner, repo, "release.yml", environment="production"), **changes}


def test_a_good_token_for_the_trusted_workflow_mints(
    srv: Server, issuers: Issuers, trusted: tuple[str, str, str, str]
) -> None:
    _, _, owner, repo = trusted
    assert KEY_RE.fullmatch(_mint(srv, issuers.sign("github", _good(owner, repo))).content)
    # GitHub names are case-insensitive; environments too.
    claims = _good(owner.upper(), repo.upper(), environment="Production")
    claims["job_workflow_ref"] = f"{owner.upper()}/{repo}/.github/workflows/release.yml@refs/tags/v1.0"
    assert _mint(srv, issuers.sign("github", claims)).status_code == 200


REFUSALS = {
    "expired": (401, "expired"),
    "not yet valid": (401, "not yet valid"),
    "issued in the future": (401, "not yet valid"),
    "wrong audience": (401, "audience"),
    "prefix.dev audience (off by default)": (401, "audience"),
    "no audience": (401, "missing claim"),
    "unknown issuer": (401, "issuer"),
    "bad signature": (401, "signature"),
    "signed with a key the JWKS does not hold": (401, "unknown key"),
    "a withdrawn kid signed by another key": (401, "signature"),
    "alg none": (401, "signature"),
    "not a JWT": (401, "malformed"),
    "wrong repository": (403, "no trusted publisher matches"),
    "wrong owner": (403, "no trusted publisher matches"),
    "wrong workflow": (403, "no trusted publisher matches"),
    "workflow of another repository": (403, "no trusted publisher matches"),
    "wrong environment": (403, "no trusted publisher matches"),
    "no environment": (403, "no trusted publisher matches"),
}


def _bad_token(case: str, issuers: Issuers, owner: str, repo: str) -> str:
    now = int(time.time())
    sign = issuers.sign
    if case == "expired":
        return sign("github", _good(owner, repo), issued=now - 1000, lifetime=300)
    if case == "not yet valid":
        return sign("github", _good(owner, repo, nbf=now + 600, exp=now + 900))
    if case == "issued in the future":
        return sign("github", _good(owner, repo, iat=now + 600, nbf=now, exp=now + 900))
    if case == "wrong audience":
        return sign("github", _good(owner, repo, aud="conda.example.com"))
    if case == "prefix.dev audience (off by default)":
        return sign("github", _good(owner, repo, aud="prefix.dev"))
    if case == "no audience":
        claims = _good(owner, repo)
        del claims["aud"]
        return sign("github", claims)
    if case == "unknown issuer":
        return sign("stranger", _good(owner, repo))
    if case == "bad signature":
        return _tamper(sign("github", _good(owner, repo)))
    if case == "signed with a key the JWKS does not hold":
        return sign("github", _good(owner, repo), key=SigningKey.new("RSA"))
    if case == "a withdrawn kid signed by another key":
        published = issuers.tenants["github"].keys[0]
        return sign("github", _good(owner, repo), key=SigningKey.new("RSA"), kid=published.kid)
    if case == "alg none":
        kid = issuers.tenants["github"].keys[0].kid
        claims = {"iss": issuers.url("github"), "iat": now, "exp": now + 300, **_good(owner, repo)}
        return jwt.encode(claims, key=None, algorithm="none", headers={"kid": kid})  # type: ignore[arg-type]  # alg none takes no key
    if case == "not a JWT":
        return "definitely.not-a.jwt"
    if case == "wrong repository":
        return sign("github", _good(owner, repo + "-fork"))
    if case == "wrong owner":
        claims = _good(owner, repo, repository_owner="someone-else")
        return sign("github", claims)
    if case == "wrong workflow":
        ref = f"{owner}/{repo}/.github/workflows/nightly.yml@refs/heads/main"
        return sign("github", _good(owner, repo, job_workflow_ref=ref, workflow_ref=ref))
    if case == "workflow of another repository":
        ref = f"{owner}/other/.github/workflows/release.yml@refs/heads/main"
        return sign("github", _good(owner, repo, job_workflow_ref=ref))
    if case == "wrong environment":
        return sign("github", _good(owner, repo, environment="staging"))
    assert case == "no environment"
    claims = _good(owner, repo)
    del claims["environment"]
    return sign("github", claims)


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_tokens_say_which_check_failed(
    srv: Server, issuers: Issuers, trusted: tuple[str, str, str, str], case: str
) -> None:
    channel, _, owner, repo = trusted
    status, check = REFUSALS[case]
    response = _mint(srv, _bad_token(case, issuers, owner, repo))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert check in error
    # Nothing about the channel or its publisher's configuration leaks.
    assert channel not in error
    assert "production" not in error.lower() or case != "wrong environment"
    assert "taipan-" not in response.text


def test_mint_needs_a_json_token(srv: Server) -> None:
    with httpx.Client(base_url=srv.url) as http:
        assert http.post("/api/oidc/mint_token", content=b"not json").status_code == 422
        assert http.post("/api/oidc/mint_token", json={}).status_code == 422
        assert http.post("/api/oidc/mint_token", json={"token": "x" * 20_000}).status_code == 422


def test_minted_key_can_only_upload_to_its_channel(srv: Server, issuers: Issuers, pkgdir: Path) -> None:
    mine, owner_key = _owned_channel(srv, private=True)
    other_public, _ = _owned_channel(srv)
    other_private, _ = _owned_channel(srv, private=True)
    token, _ = _publisher_and_token(issuers, srv, owner_key, mine, "github", "RSA")
    key = _minted(srv, token)
    pkg = packages.build(Spec("tp-scoped"), pkgdir)
    with httpx.Client(base_url=srv.url, headers=bearer(key)) as http:
        assert upload_raw(http, mine, pkg).status_code == 200
        assert upload_raw(http, other_public, pkg).status_code == 403
        assert upload_raw(http, other_private, pkg).status_code == 404
        assert http.get(f"/{other_private}/noarch/repodata.json").status_code == 404
        assert http.get(f"/api/v1/channels/{other_private}").status_code == 404
        assert other_private not in [c["name"] for c in http.get("/api/v1/channels").json()]
        # Nothing but uploads: no channels, keys, members, publishers, settings or deletions.
        assert http.post("/api/v1/channels", json={"name": f"tp-new-{uuid.uuid4().hex[:6]}"}).status_code == 403
        assert http.post("/api/v1/tokens", json={"name": "more", "channels": {mine: "viewer"}}).status_code == 403
        assert http.put(f"/api/v1/channels/{mine}/members/admin", json={"role": "viewer"}).status_code == 403
        assert http.get(f"/api/v1/channels/{mine}/publishers").status_code == 403
        github = {"provider": "github", "owner": "evil", "repository": "evil", "workflow": "x.yml"}
        assert http.post(f"/api/v1/channels/{mine}/publishers", json=github).status_code == 403
        assert http.patch(f"/api/v1/channels/{mine}", json={"private": False}).status_code == 403
        assert http.delete(f"/api/v1/delete/{mine}/noarch/{pkg.name}").status_code == 403
        assert http.get("/api/v1/tokens").json() == []
        assert http.get("/api/v1/audit").status_code == 403
        for key_id in range(1, 4):  # no revoking anyone's keys, other minted keys included
            assert http.delete(f"/api/v1/tokens/{key_id}").status_code == 403  # narrowed: revokes nothing
    with httpx.Client(base_url=srv.url, headers=bearer(owner_key)) as http:
        assert [f["filename"] for f in http.get(f"/api/v1/channels/{mine}/files").json()] == [pkg.name]


def test_one_token_mints_for_every_channel_trusting_it(srv: Server, issuers: Issuers, pkgdir: Path) -> None:
    owner, repo = _names()
    channels = []
    for _ in range(2):
        channel, owner_key = _owned_channel(srv)
        _trust(srv, owner_key, channel, provider="github", owner=owner, repository=repo, workflow="release.yml")
        channels.append(channel)
    key = _minted(srv, issuers.sign("github", github_claims(AUDIENCE, owner, repo)))
    pkg = packages.build(Spec("tp-both"), pkgdir)
    with httpx.Client(base_url=srv.url, headers=bearer(key)) as http:
        for channel in channels:
            assert upload_raw(http, channel, pkg).status_code == 200


def test_key_rotation_at_the_issuer(srv: Server, issuers: Issuers) -> None:
    channel, owner_key = _owned_channel(srv)
    token, _ = _publisher_and_token(issuers, srv, owner_key, channel, "gitlab", "RSA")
    assert _mint(srv, token).status_code == 200  # the server now holds the current keys
    old = issuers.tenants["gitlab"].keys[0]
    fetches = issuers.tenants["gitlab"].jwks_fetches
    new = issuers.rotate("gitlab")
    time.sleep(0.6)  # the servers' refetch interval is 0.5 s
    claims = jwt.decode(token, options={"verify_signature": False})
    for key in new:
        assert _mint(srv, issuers.sign("gitlab", claims, key=key)).status_code == 200
    assert issuers.tenants["gitlab"].jwks_fetches == fetches + 1  # fetched once for the unknown kid
    time.sleep(0.6)
    withdrawn = _mint(srv, issuers.sign("gitlab", claims, key=old))
    assert withdrawn.status_code == 401
    assert "unknown key" in withdrawn.json()["error"]


def test_minted_key_expires(short_srv: Server, issuers: Issuers, pkgdir: Path) -> None:
    channel, owner_key = _owned_channel(short_srv)
    token, _ = _publisher_and_token(issuers, short_srv, owner_key, channel, "github", "RSA")
    key = _minted(short_srv, token)
    minted_at = time.monotonic()  # after the answer: the key was made before it (a loaded mint can take a while)
    with httpx.Client(base_url=short_srv.url, headers=bearer(key)) as http:
        assert upload_raw(http, channel, packages.build(Spec("tp-early"), pkgdir)).status_code == 200
        time.sleep(max(0.0, minted_at + SHORT_TTL + 0.3 - time.monotonic()))
        late = upload_raw(http, channel, packages.build(Spec("tp-late"), pkgdir))
    assert late.status_code == 401
    assert "expired" in late.json()["error"]


def test_prefix_dev_audience_when_enabled(short_srv: Server, issuers: Issuers) -> None:
    channel, owner_key = _owned_channel(short_srv)
    owner, repo = _names()
    _trust(short_srv, owner_key, channel, provider="github", owner=owner, repository=repo, workflow="release.yml")
    for audience in ("prefix.dev", AUDIENCE):
        token = issuers.sign("github", github_claims(audience, owner, repo))
        assert _mint(short_srv, token).status_code == 200


def test_only_configured_providers_and_reachable_issuers(short_srv: Server, issuers: Issuers, down_issuer: str) -> None:
    channel, owner_key = _owned_channel(short_srv)
    with httpx.Client(base_url=short_srv.url, headers=bearer(owner_key)) as http:
        body = {"provider": "gitlab", "namespace": "g", "project": "p", "config_path": ".gitlab-ci.yml"}
        refused = http.post(f"/api/v1/channels/{channel}/publishers", json=body)
        assert refused.status_code == 400
        assert "accepts no 'gitlab' tokens" in refused.json()["error"]
    # Tokens of an unconfigured provider's issuer are refused without asking it anything.
    gitlab = _mint(short_srv, issuers.sign("gitlab", gitlab_claims(AUDIENCE, issuers.url("gitlab"), "g", "p")))
    assert gitlab.status_code == 401
    assert "issuer" in gitlab.json()["error"]
    # This server's Google issuer is down: its tokens cannot be checked now (503, worth a retry).
    down = issuers.sign("google", {**google_claims(AUDIENCE, "a@b.example"), "iss": down_issuer})
    response = _mint(short_srv, down)
    assert response.status_code == 503, response.text
    assert "cannot be fetched" in response.json()["error"]


def test_publisher_management_is_for_owners(srv: Server) -> None:
    channel, owner_key = _owned_channel(srv, private=True)
    contributor = accounts.new_user(srv, "tpc")
    accounts.add_member(srv, owner_key, channel, contributor, "contributor")
    contributor_key = accounts.new_key(srv, contributor)
    outsider_key = accounts.new_key(srv, accounts.new_user(srv, "tpo"))
    body = {"provider": "github", "owner": "acme", "repository": "tools", "workflow": ".github/workflows/ci.yml"}
    path = f"/api/v1/channels/{channel}/publishers"
    with httpx.Client(base_url=srv.url) as http:
        assert http.get(path).status_code == 401
        assert http.post(path, json=body, headers=bearer(contributor_key)).status_code == 403
        assert http.get(path, headers=bearer(contributor_key)).status_code == 403
        assert http.post(path, json=body, headers=bearer(outsider_key)).status_code == 404
        made = http.post(path, json=body, headers=bearer(owner_key))
        assert made.status_code == 201, made.text
        publisher = made.json()
        assert publisher["workflow"] == "ci.yml"  # the folder is implied
        assert publisher["issuer"].endswith("/github")
        assert http.post(path, json=body, headers=bearer(owner_key)).status_code == 409
        listed = http.get(path, headers=bearer(owner_key)).json()
        assert [p["id"] for p in listed] == [publisher["id"]]
        delete = f"{path}/{publisher['id']}"
        assert http.delete(delete, headers=bearer(contributor_key)).status_code == 403
        assert http.delete(delete, headers=bearer(owner_key)).status_code == 204
        assert http.delete(delete, headers=bearer(owner_key)).status_code == 404
        assert http.get(path, headers=bearer(owner_key)).json() == []
        bad = [
            {"provider": "github", "owner": "acme", "repository": "tools"},
            {"provider": "github", "owner": "acme", "repository": "tools", "workflow": "../x.yml"},
            {"provider": "gitlab", "namespace": "g", "project": "p", "config_path": "/abs.yml"},
            {"provider": "gitlab", "owner": "g", "repository": "p", "workflow": ".gitlab-ci.yml"},
            {"provider": "google"},
            {"provider": "google", "email": "not-an-email"},
            {"provider": "google", "email": "a@b.example", "environment": "prod"},
        ]
        for item in bad:
            response = http.post(path, json=item, headers=bearer(owner_key))
            assert response.status_code == 400, (item, response.text)
        assert http.post(path, json={"provider": "jenkins"}, headers=bearer(owner_key)).status_code == 422
        events = http.get(f"/api/v1/channels/{channel}/audit", headers=bearer(owner_key)).json()
    assert {"publisher_added", "publisher_removed"} <= {e["action"] for e in events}


def _cli(server: Server, *args: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {**server.env(), "TAIPAN_SERVER": server.url, "TAIPAN_TOKEN": token}
    return cli.taipan(*args, env=env)


def test_cli_publishers(srv: Server, issuers: Issuers) -> None:
    channel, owner_key = _owned_channel(srv)
    owner, repo = _names()
    added = _cli(
        srv,
        "channel",
        "publisher",
        "add",
        channel,
        "github",
        "--repository",
        f"{owner}/{repo}",
        "--workflow",
        "release.yml",
        "--environment",
        "pypi",
        token=owner_key,
    )
    assert added.returncode == 0, added.stderr
    assert f"GitHub {owner}/{repo} .github/workflows/release.yml (environment pypi)" in added.stdout
    gitlab = _cli(
        srv, "channel", "publisher", "add", channel, "gitlab", "--namespace", "grp", "--project", "p", token=owner_key
    )
    assert gitlab.returncode == 0, gitlab.stderr
    assert "GitLab grp/p .gitlab-ci.yml" in gitlab.stdout
    listed = _cli(srv, "channel", "publisher", "list", channel, token=owner_key)
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 2
    token = issuers.sign("github", github_claims(AUDIENCE, owner, repo, environment="pypi"))
    assert _mint(srv, token).status_code == 200
    first_id = listed.stdout.split("\t", 1)[0]
    removed = _cli(srv, "channel", "publisher", "remove", channel, first_id, token=owner_key)
    assert removed.returncode == 0, removed.stderr
    assert _mint(srv, token).status_code == 403
    refused = _cli(srv, "channel", "publisher", "add", channel, "google", token=owner_key)
    assert refused.returncode != 0
    assert "needs the service account's email" in refused.stderr


def test_attestations_follow_their_package(srv: Server, pkgdir: Path) -> None:
    channel, owner_key = _owned_channel(srv, private=True)
    pkg = packages.build(Spec("tp-attested"), pkgdir)
    storage, stored = srv.storage(), f"{channel}/noarch/{pkg.name}.sigstore.json"
    url = f"/{channel}/noarch/{pkg.name}.sigstore.json"
    first, second = _attestation(pkg), _attestation(pkg).replace(b"not a real", b"another")
    with httpx.Client(base_url=srv.url, headers=bearer(owner_key)) as http:
        for bad in (b"{not json", b"[1, 2]", b""):
            refused = upload_multipart(http, channel, pkg, attestation=bad)
            assert refused.status_code == 400, refused.text
            assert "attestation" in refused.json()["error"]
        assert http.get(f"/api/v1/channels/{channel}/files").json() == []
        assert storage.stat(stored) is None

        assert upload_multipart(http, channel, pkg, attestation=first).status_code == 200
        assert http.get(url).content == first
        with storage.open(stored) as f:
            assert f.read() == first
        assert upload_multipart(http, channel, pkg, attestation=second).status_code == 409
        assert http.get(url).content == first  # a refused upload changes nothing

        assert upload_multipart(http, channel, pkg, attestation=second, force=True).status_code == 200
        assert http.get(url).content == second
        assert upload_multipart(http, channel, pkg, force=True).status_code == 200  # replaced without one
        assert http.get(url).status_code == 404
        assert storage.stat(stored) is None
        assert http.get(f"/api/v1/channels/{channel}/files").json()[0]["has_attestation"] is False

        assert upload_multipart(http, channel, pkg, attestation=first, force=True).status_code == 200
        head = http.head(url)
        assert head.status_code == 200
        assert head.headers["cache-control"].startswith("private")
        assert http.get(url, headers={"If-None-Match": head.headers["etag"]}).status_code == 304
    with httpx.Client(base_url=srv.url) as anonymous:
        assert anonymous.get(url).status_code == 401  # same rules as the package itself
    with httpx.Client(base_url=srv.url, headers=bearer(owner_key)) as http:
        assert http.delete(f"/api/v1/delete/{channel}/noarch/{pkg.name}").status_code == 200
        assert http.get(url).status_code == 404
    assert storage.stat(stored) is None


def test_settings_page_manages_publishers(srv: Server) -> None:
    owner = accounts.new_user(srv, "tpui")
    channel = accounts.new_channel(srv, accounts.new_key(srv, owner), private=False, prefix="tpui")
    settings, action = f"/channels/{channel}/settings", f"/channels/{channel}/publishers"
    with sign_in(srv, owner) as http:
        github = {"provider": "github", "owner": "acme", "repository": "tools", "workflow": "release.yml"}
        added = post_form(http, settings, action, {**github, "environment": "", "email": "ignored@x.example"})
        assert added.status_code == 200, added.text
        assert "Trusted publisher added." in added.text
        assert "GitHub acme/tools .github/workflows/release.yml" in text_of(added)
        gitlab = {"provider": "gitlab", "namespace": "grp", "project": "p", "config_path": ".gitlab-ci.yml"}
        assert post_form(http, settings, action, {**gitlab, "environment": "prod"}).status_code == 200
        refused = post_form(http, settings, action, {"provider": "google", "email": "", "subject": ""})
        assert refused.status_code == 400
        assert "needs the service account" in refused.text
        listed = http.get(f"/api/v1/channels/{channel}/publishers").json()
        assert [p["description"] for p in listed] == [
            "GitHub acme/tools .github/workflows/release.yml",
            "GitLab grp/p .gitlab-ci.yml (environment prod)",
        ]
        removed = post_form(http, settings, f"{action}/{listed[0]['id']}/remove", {})
        assert removed.status_code == 200
        assert "Trusted publisher removed." in removed.text
        assert "acme/tools" not in text_of(removed)

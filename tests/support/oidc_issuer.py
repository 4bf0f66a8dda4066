"""A real OpenID Connect issuer on 127.0.0.1, for trusted-publishing tests.

One HTTP server hosts several issuers, each under its own path (``/github``,
``/gitlab``, ...), each with a discovery document and a JWKS of real RSA and EC keys.
Tokens are signed with PyJWT. ``rotate`` replaces an issuer's keys, as issuers do.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class SigningKey:
    kid: str
    private: PrivateKey
    alg: str

    @classmethod
    def new(cls, kind: str = "RSA") -> SigningKey:
        if kind == "RSA":
            return cls(
                f"rsa-{uuid.uuid4().hex[:8]}", rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"
            )
        return cls(f"ec-{uuid.uuid4().hex[:8]}", ec.generate_private_key(ec.SECP256R1()), "ES256")

    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.alg}


@dataclass
class Tenant:
    """One issuer: its published keys (the JWKS) and how often they were fetched."""

    name: str
    url: str
    keys: list[SigningKey] = field(default_factory=list)
    jwks_fetches: int = 0


class Issuers:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self.base = f"http://127.0.0.1:{server.server_address[1]}"
        self.tenants: dict[str, Tenant] = {}
        self._lock = threading.Lock()

    def add(self, name: str, kinds: tuple[str, ...] = ("RSA", "EC")) -> Tenant:
        tenant = Tenant(name, f"{self.base}/{name}", [SigningKey.new(k) for k in kinds])
        self.tenants[name] = tenant
        return tenant

    def url(self, name: str) -> str:
        return self.tenants[name].url

    def rotate(self, name: str) -> list[SigningKey]:
        """Withdraw every key of the issuer and publish new ones of the same kinds."""
        with self._lock:
            tenant = self.tenants[name]
            tenant.keys = [SigningKey.new("RSA" if k.alg.startswith("RS") else "EC") for k in tenant.keys]
            return list(tenant.keys)

    def sign(
        self,
        name: str,
        claims: Mapping[str, Any],
        *,
        key: SigningKey | None = None,
        kid: str | None = None,
        lifetime: int = 300,
        issued: float | None = None,
    ) -> str:
        """A token from issuer ``name``: iss, iat, nbf and exp filled in unless ``claims`` sets them."""
        tenant = self.tenants[name]
        signer = key or tenant.keys[0]
        now = int(issued if issued is not None else time.time())
        payload = {"iss": tenant.url, "iat": now, "nbf": now, "exp": now + lifetime, "jti": uuid.uuid4().hex}
        payload.update(claims)
        return jwt.encode(payload, signer.private, algorithm=signer.alg, headers={"kid": kid or signer.kid})

    def _document(self, path: str) -> dict[str, Any] | None:
        name, _, rest = path.strip("/").partition("/")
        tenant = self.tenants.get(name)
        if tenant is None:
            return None
        if rest == ".well-known/openid-configuration":
            return {
                "issuer": tenant.url,
                "jwks_uri": f"{tenant.url}/.well-known/jwks",
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
            }
        if rest == ".well-known/jwks":
            with self._lock:
                tenant.jwks_fetches += 1
                return {"keys": [k.public_jwk() for k in tenant.keys]}
        return None


@contextmanager
def running_issuers(*names: str) -> Iterator[Issuers]:
    """Serve issuers ``names`` (each with an RSA and an EC key) until the block ends."""
    holder: list[Issuers] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            document = holder[0]._document(self.path)
            body = json.dumps(document).encode() if document is not None else b'{"error": "not found"}'
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    issuers = Issuers(server)
    holder.append(issuers)
    for name in names:
        issuers.add(name)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuers
    finally:
        server.shutdown()
        server.server_close()


def github_claims(
    audience: str,
    owner: str,
    repo: str,
    workflow: str = "release.yml",
    *,
    environment: str | None = None,
    ref: str = "refs/heads/main",
    run_id: str = "4242",
) -> dict[str, Any]:
    """Claims as GitHub Actions puts them in its ID tokens."""
    repository = f"{owner}/{repo}"
    workflow_ref = f"{repository}/.github/workflows/{workflow}@{ref}"
    claims: dict[str, Any] = {
        "aud": audience,
        "sub": f"repo:{repository}:" + (f"environment:{environment}" if environment else f"ref:{ref}"),
        "repository": repository,
        "repository_owner": owner,
        "repository_owner_id": "1001",
        "repository_id": "2002",
        "workflow": "Release",
        "workflow_ref": workflow_ref,
        "job_workflow_ref": workflow_ref,
        "ref": ref,
        "ref_type": "branch",
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "run_id": run_id,
        "run_number": "7",
        "run_attempt": "1",
        "actor": "octocat",
        "event_name": "push",
        "runner_environment": "github-hosted",
    }
    if environment:
        claims["environment"] = environment
    return claims


def gitlab_claims(
    audience: str,
    issuer_url: str,
    namespace: str,
    project: str,
    config_path: str = ".gitlab-ci.yml",
    *,
    environment: str | None = None,
    ref: str = "main",
    pipeline_id: str = "777",
) -> dict[str, Any]:
    """Claims as GitLab CI puts them in its ID tokens (the host in ci_config_ref_uri is GitLab's own)."""
    project_path = f"{namespace}/{project}"
    host = issuer_url.split("://", 1)[1]
    claims: dict[str, Any] = {
        "aud": audience,
        "sub": f"project_path:{project_path}:ref_type:branch:ref:{ref}",
        "namespace_id": "11",
        "namespace_path": namespace,
        "project_id": "22",
        "project_path": project_path,
        "user_login": "tanuki",
        "pipeline_id": pipeline_id,
        "pipeline_source": "push",
        "job_id": "9001",
        "ref": ref,
        "ref_type": "branch",
        "ref_path": f"refs/heads/{ref}",
        "ref_protected": "true",
        "ci_config_ref_uri": f"{host}/{project_path}//{config_path}@refs/heads/{ref}",
        "ci_config_sha": "89abcdef0123456789abcdef0123456789abcdef",
    }
    if environment:
        claims["environment"] = environment
        claims["environment_protected"] = "true"
    return claims


def google_claims(audience: str, email: str, subject: str = "112233445566778899") -> dict[str, Any]:
    """Claims of a Google service account's ID token (metadata server, format=full)."""
    return {"aud": audience, "azp": subject, "sub": subject, "email": email, "email_verified": True}

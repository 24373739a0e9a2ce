"""API keys: random tokens given once to a person or a tool, stored only as SHA-256 hashes in the settings.

``BADBUZZ_API_KEYS`` holds comma-separated ``name:role:sha256hex`` entries; ``badbuzz api-key NAME --role
read|write`` makes a key and prints the entry to add. A ``read`` key may read and score; acknowledging an
alert (a write) needs a ``write`` key. Keys are long random strings, so a plain SHA-256 is the right hash
(a slow password hash protects guessable secrets, which these are not), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["read", "write"]
ROLES: tuple[Role, ...] = ("read", "write")


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: Role
    digest: str  # hex SHA-256 of the key

    def allows(self, needed: Role) -> bool:
        return self.role == "write" or needed == "read"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(name: str, role: Role) -> tuple[str, str]:
    """(the key to hand out, the settings entry that accepts it)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    if not name or any(c in name for c in ":,"):
        raise ValueError(f"a key name needs no ':' or ',', got {name!r}")
    key = "bbz_" + secrets.token_urlsafe(32)
    return key, f"{name}:{role}:{digest(key)}"


def parse_keys(spec: str) -> list[ApiKey]:
    """The entries of ``BADBUZZ_API_KEYS``; a malformed one is an error (a key silently ignored locks a
    team out with no hint)."""
    keys = []
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) != 3 or parts[1] not in ROLES or len(parts[2]) != 64:
            raise ValueError(f"API key entry {entry[:40]!r} is not name:read|write:<sha256 hex>")
        int(parts[2], 16)
        keys.append(ApiKey(parts[0], parts[1], parts[2].lower()))
    return keys


def find_key(keys: list[ApiKey], presented: str) -> ApiKey | None:
    d = digest(presented)
    found = None
    for k in keys:  # every entry compared, in constant time each: no timing hint of which one matched
        if hmac.compare_digest(k.digest, d):
            found = k
    return found


def register(sub: Any) -> None:
    k = sub.add_parser("api-key", help="make an API key: prints the key (once) and the BADBUZZ_API_KEYS entry")
    k.add_argument("name")
    k.add_argument("--role", choices=["read", "write"], default="read")
    k.set_defaults(run=run_api_key_command)


def run_api_key_command(args: Any, settings: Any) -> int:
    key, entry = new_key(args.name, args.role)
    print(f"key (give it to {args.name}; it is not stored anywhere): {key}")
    print(f"add to BADBUZZ_API_KEYS (comma-separated): {entry}")
    return 0

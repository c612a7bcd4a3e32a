"""The ACLs a role is granted are each stated once: Kafka's admin API refuses a request that repeats a binding
(``cdp-triggers acls`` and the secured tests send one request per role)."""

from __future__ import annotations

from collections import Counter

from streams.acls import ROLES, acls
from streams.settings import Settings


def test_no_role_is_granted_the_same_binding_twice():
    for role in ROLES:
        bindings = Counter(
            (acl.resource, name, operation)
            for acl in acls(role, Settings())
            for name in acl.names
            for operation in acl.operations
        )
        assert not [b for b, n in bindings.items() if n > 1], role

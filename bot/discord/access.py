"""Who is acting: a Discord member as the Desk's Actor, with can_approve decided here.

The Desk enforces can_approve and audits refusals, so a non-approver's request still goes
to the Desk: that is what records it.
"""

from __future__ import annotations

from collections.abc import Collection

import discord

from trading.services.actions import Actor


def is_approver(user: discord.abc.User, role_ids: Collection[int], user_ids: Collection[int]) -> bool:
    if user.id in user_ids:
        return True
    roles = getattr(user, "roles", ())  # a plain User (outside the guild) has none
    return any(role.id in role_ids for role in roles)


def actor_for(user: discord.abc.User, role_ids: Collection[int], user_ids: Collection[int]) -> Actor:
    return Actor(id=f"discord:{user.id}", name=user.display_name, can_approve=is_approver(user, role_ids, user_ids))

"""A loopback fake Discord: the gateway websocket and the REST routes signaldesk uses.

The unmodified discord.py client connects to it (Route.BASE and DEFAULT_GATEWAY pointed
here, see docs/architecture.md "Testing"). A test injects button clicks, modal submits and
slash commands as a member with given roles, then asserts on the REST calls the bot made.
It enforces what real Discord enforces and a fake would otherwise let slide: the 3-second
first-response rule (measured per interaction), one first response per interaction, buttons
that exist on the message being clicked, commands that were synced, nonce de-duplication,
and injected 429/5xx answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord.utils
from aiohttp import WSMsgType, web

from tests.support.loopback import serving

EPHEMERAL = 1 << 6
BODY = web.RequestKey("body", object)
FILES = "_files"  # in a multipart body: the uploaded files' bytes by file name


def _multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    """A message sent with files, as discord.py sends it: the JSON in `payload_json`, each file
    a part of its own (files[n]). The JSON with the files' bytes under FILES."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    body: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        if name == "payload_json":
            body = json.loads(data)
        elif part.get_filename():
            files[str(part.get_filename())] = data
    body[FILES] = files
    return body


FIRST_RESPONSE_LIMIT = 3.0  # seconds, Discord's rule for an interaction's first response

# Interaction callback types
MESSAGE = 4
DEFERRED_MESSAGE = 5  # "thinking"
DEFERRED_UPDATE = 6
UPDATE_MESSAGE = 7
MODAL = 9


def _snowflake() -> int:
    # Real-time snowflakes: discord.py derives message and interaction ages from them.
    # The sleep-free bump keeps ids unique when two are made in the same millisecond.
    global _last_snowflake
    sf = discord.utils.time_snowflake(datetime.now(UTC))
    _last_snowflake = max(sf, _last_snowflake + 1)
    return _last_snowflake


_last_snowflake = 0


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py does not parse "application/json; charset=utf-8".
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


@dataclass(frozen=True)
class Member:
    id: int
    name: str
    roles: tuple[int, ...] = ()

    def user(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.name,
            "avatar": None,
        }

    def payload(self) -> dict[str, Any]:
        return {
            "user": self.user(),
            "roles": [str(r) for r in self.roles],
            "flags": 0,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
        }


@dataclass
class RestCall:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    body: Any
    at: float  # time.monotonic()
    status: int = 200


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    retry_after: float
    via: bool  # a 429 without "Via" looks like a Cloudflare ban to discord.py, which then raises
    times: int
    lost_answer: bool  # handle the request, then answer with the fault (the answer was lost)


@dataclass
class InjectedInteraction:
    """One interaction the test dispatched, and everything the bot answered to it."""

    id: int
    token: str
    type: int
    member: Member
    label: str  # custom id or command name
    channel_id: int
    dispatched_at: float
    message_id: int | None = None  # the message a component sits on
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    first_response_at: float | None = None
    original_message_id: int | None = None  # the message @original refers to
    followups: list[dict[str, Any]] = field(default_factory=list)  # message payloads sent or edited
    responded: asyncio.Event = field(default_factory=asyncio.Event)
    replied: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def latency(self) -> float | None:
        """Seconds from dispatch to the first callback, as Discord would measure it."""
        return None if self.first_response_at is None else self.first_response_at - self.dispatched_at

    @property
    def first_callback(self) -> dict[str, Any]:
        return self.callbacks[0]

    async def first_response(self, within: float = 5.0) -> dict[str, Any]:
        await asyncio.wait_for(self.responded.wait(), within)
        return self.callbacks[0]

    async def reply(self, within: float = 5.0) -> dict[str, Any]:
        """The newest message content the user sees for this interaction (a callback message,
        an edit of the deferred original, or a follow-up)."""
        await asyncio.wait_for(self.replied.wait(), within)
        return self.followups[-1]


class FakeDiscord:
    def __init__(self, *, guild_id: int = 900_000_000_000_000_001) -> None:
        self.guild_id = guild_id
        self.app_id = 900_000_000_000_000_100
        self.bot_user = {
            "id": str(self.app_id),
            "username": "signaldesk",
            "discriminator": "0",
            "avatar": None,
            "bot": True,
        }
        self.roles: dict[int, str] = {guild_id: "@everyone"}
        self.role_permissions: dict[int, int] = {}  # role id -> permission bits (0 when absent)
        self.mentionable_roles: set[int] = set()
        self.channels: dict[int, str] = {}
        self.channel_types: dict[int, int] = {}  # channel id -> Discord channel type (0, text, when absent)
        self.overwrites: dict[int, list[dict[str, Any]]] = {}  # channel id -> permission_overwrites
        # The bot's own membership, for the set-up check (`signaldesk discord check`).
        self.token: str | None = None  # when set, REST calls with another token get 401
        self.bot_in_guild = True
        self.bot_roles: tuple[int, ...] = ()
        self.members: dict[int, Member] = {}
        self.calls: list[RestCall] = []
        self.messages: dict[int, dict[str, Any]] = {}  # id -> payload, as the bot left it
        self.files: dict[int, dict[str, bytes]] = {}  # message id -> its attachments' bytes, by file name
        self.commands: dict[str, dict[str, Any]] = {}  # name -> synced command
        self.interactions: dict[str, InjectedInteraction] = {}  # token -> record
        self.identifies = 0
        self.faults: list[Fault] = []
        self.late_first_responses: list[InjectedInteraction] = []
        self._nonces: dict[tuple[int, str], int] = {}
        self._ws: web.WebSocketResponse | None = None
        self._seq = 0
        self._ready = asyncio.Event()
        self._changed = asyncio.Condition()
        self._serving = contextlib.AsyncExitStack()
        self.port = 0

    # ------------------------------------------------------------------ set-up

    def add_role(self, name: str, permissions: int = 0, *, mentionable: bool = False) -> int:
        rid = _snowflake()
        self.roles[rid] = name
        self.role_permissions[rid] = permissions
        if mentionable:
            self.mentionable_roles.add(rid)
        return rid

    def add_channel(self, name: str, *, kind: int = 0) -> int:
        cid = _snowflake()
        self.channels[cid] = name
        self.channel_types[cid] = kind  # Discord channel type: 0 text, 2 voice, 4 category, ...
        return cid

    def overwrite(
        self, channel_id: int, target_id: int, *, allow: int = 0, deny: int = 0, member: bool = False
    ) -> None:
        """A channel permission overwrite for a role (or a member), as Discord stores it."""
        self.overwrites.setdefault(channel_id, []).append(
            {"id": str(target_id), "type": 1 if member else 0, "allow": str(allow), "deny": str(deny)}
        )

    def add_member(self, name: str, roles: tuple[int, ...] = ()) -> Member:
        m = Member(_snowflake(), name, roles)
        self.members[m.id] = m
        return m

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def start(self) -> FakeDiscord:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/", self._gateway)
        r = app.router
        p = "/api/v10"
        r.add_get(p + "/users/@me", self._me)
        r.add_get(p + "/guilds/{guild}", self._guild)
        r.add_get(p + "/guilds/{guild}/channels", self._guild_channels)
        r.add_get(p + "/guilds/{guild}/roles", self._guild_roles)
        r.add_get(p + "/guilds/{guild}/members/{user}", self._guild_member)
        r.add_get(p + "/oauth2/applications/@me", self._application)
        r.add_put(p + "/applications/{app}/commands", self._sync_commands)
        r.add_put(p + "/applications/{app}/guilds/{guild}/commands", self._sync_commands)
        r.add_get(p + "/applications/{app}/guilds/{guild}/commands", self._list_commands)
        r.add_post(p + "/interactions/{iid}/{token}/callback", self._callback)
        r.add_get(p + "/webhooks/{app}/{token}/messages/{mid}", self._webhook_get)
        r.add_patch(p + "/webhooks/{app}/{token}/messages/{mid}", self._webhook_edit)
        r.add_delete(p + "/webhooks/{app}/{token}/messages/{mid}", self._webhook_delete)
        r.add_post(p + "/webhooks/{app}/{token}", self._followup)
        r.add_post(p + "/channels/{cid}/messages", self._create_message)
        r.add_get(p + "/channels/{cid}/messages/{mid}", self._get_message)
        r.add_patch(p + "/channels/{cid}/messages/{mid}", self._edit_message)
        base_url = await self._serving.enter_async_context(serving(app))
        self.port = int(base_url.rsplit(":", 1)[1])
        return self

    async def stop(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        await self._serving.aclose()

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ faults

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float = 0.2,
        via: bool = True,
        lost_answer: bool = False,
    ) -> None:
        """Answer the next `times` matching REST calls with `status` (429 carries retry_after).
        With lost_answer the request takes effect first, as when Discord's answer is lost."""
        self.faults.append(Fault(method, re.compile(path_regex), status, retry_after, via, times, lost_answer))

    def _fault_for(self, method: str, path: str) -> Fault | None:
        for f in self.faults:
            if f.times > 0 and f.method == method and f.pattern.search(path):
                f.times -= 1
                return f
        return None

    # ------------------------------------------------------------------ waiting and reading

    async def wait_ready(self, within: float = 5.0) -> None:
        """Until the client has identified (READY and GUILD_CREATE sent)."""
        await asyncio.wait_for(self._ready.wait(), within)

    async def wait_for(self, predicate: Callable[[], Any], within: float = 5.0) -> Any:
        """Until predicate() is truthy; returns its value. Checked after every REST call and
        every 10 ms (the bot's own state changes without a call)."""

        async def _wait() -> Any:
            while not (value := predicate()):
                async with self._changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), 0.01)
            return value

        return await asyncio.wait_for(_wait(), within)

    def calls_to(self, method: str, path_regex: str) -> list[RestCall]:
        pat = re.compile(path_regex)
        return [c for c in self.calls if c.method == method and pat.search(c.path) and c.status < 300]

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["channel_id"] == str(channel_id)]

    @staticmethod
    def custom_ids(message: dict[str, Any]) -> list[str]:
        return [c["custom_id"] for c in _walk(message.get("components", [])) if "custom_id" in c]

    # ------------------------------------------------------------------ injecting interactions

    def _base_interaction(self, itype: int, member: Member, channel_id: int, label: str) -> InjectedInteraction:
        rec = InjectedInteraction(
            id=_snowflake(),
            token=f"tok{_snowflake()}",
            type=itype,
            member=member,
            label=label,
            channel_id=channel_id,
            dispatched_at=0.0,
        )
        self.interactions[rec.token] = rec
        return rec

    def _payload(self, rec: InjectedInteraction, channel_id: int, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(rec.id),
            "application_id": str(self.app_id),
            "type": rec.type,
            "token": rec.token,
            "version": 1,
            "attachment_size_limit": 8 * 1024 * 1024,
            "guild_id": str(self.guild_id),
            "channel_id": str(channel_id),
            "channel": {"id": str(channel_id), "type": 0, "guild_id": str(self.guild_id)},
            "member": rec.member.payload(),
            "app_permissions": "0",
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {},
            "context": 0,
            "data": data,
        }

    async def click(self, message_id: int, custom_id: str, member: Member) -> InjectedInteraction:
        message = self.messages[message_id]
        if custom_id not in self.custom_ids(message):
            raise AssertionError(f"no button {custom_id!r} on message {message_id}: {self.custom_ids(message)}")
        channel_id = int(message["channel_id"])
        rec = self._base_interaction(3, member, channel_id, custom_id)
        rec.message_id = message_id
        payload = self._payload(rec, channel_id, {"custom_id": custom_id, "component_type": 2})
        payload["message"] = message
        await self._dispatch_interaction(rec, payload)
        return rec

    async def select(self, message_id: int, custom_id: str, member: Member, values: list[str]) -> InjectedInteraction:
        """Pick `values` in the message's select menu `custom_id` (a string select, component
        type 3), as Discord checks a choice: known options only, within min and max values."""
        message = self.messages[message_id]
        menu = next(
            (c for c in _walk(message.get("components", [])) if c.get("custom_id") == custom_id and c["type"] == 3),
            None,
        )
        if menu is None:
            raise AssertionError(f"no select menu {custom_id!r} on message {message_id}: {self.custom_ids(message)}")
        offered = [o["value"] for o in menu.get("options", [])]
        if not set(values) <= set(offered) or not menu.get("min_values", 1) <= len(values) <= menu.get("max_values", 1):
            raise AssertionError(f"Discord would not send {values} from {custom_id!r} (options {offered})")
        channel_id = int(message["channel_id"])
        rec = self._base_interaction(3, member, channel_id, custom_id)
        rec.message_id = message_id
        payload = self._payload(rec, channel_id, {"custom_id": custom_id, "component_type": 3, "values": values})
        payload["message"] = message
        await self._dispatch_interaction(rec, payload)
        return rec

    async def slash(
        self, name: str, member: Member, channel_id: int, **options: str | int | bool
    ) -> InjectedInteraction:
        if name not in self.commands:
            raise AssertionError(f"/{name} was not synced; synced: {sorted(self.commands)}")
        command = self.commands[name]
        declared = {o["name"]: o for o in command.get("options", [])}
        opts = []
        for key, value in options.items():
            if key not in declared:
                raise AssertionError(f"/{name} has no option {key!r}; it has {sorted(declared)}")
            opts.append({"name": key, "type": declared[key]["type"], "value": value})
        rec = self._base_interaction(2, member, channel_id, name)
        data = {"id": command["id"], "name": name, "type": 1, "options": opts, "guild_id": str(self.guild_id)}
        await self._dispatch_interaction(rec, self._payload(rec, channel_id, data))
        return rec

    async def submit_modal(
        self, opened_by: InjectedInteraction, member: Member, values: dict[str, str]
    ) -> InjectedInteraction:
        """Submit the modal the bot opened in answer to `opened_by`; `values` by input custom id
        (inputs not named keep the value the bot pre-filled)."""
        await opened_by.first_response()
        modal = next((c["data"] for c in opened_by.callbacks if c["type"] == MODAL), None)
        if modal is None:
            raise AssertionError(f"the bot answered {opened_by.label!r} without a modal: {opened_by.callbacks}")
        inputs = [c for c in _walk(modal["components"]) if c.get("type") == 4]
        unknown = set(values) - {c["custom_id"] for c in inputs}
        if unknown:
            raise AssertionError(f"the modal has no inputs {sorted(unknown)}")
        rows = []
        for comp in modal["components"]:
            inner = comp["components"][0] if comp["type"] == 1 else comp["component"]
            submitted = {
                "type": 4,
                "custom_id": inner["custom_id"],
                "value": values.get(inner["custom_id"], inner.get("value", "")),
            }
            rows.append(
                {"type": 1, "components": [submitted]} if comp["type"] == 1 else {"type": 18, "component": submitted}
            )
        channel_id = opened_by.message_id and int(self.messages[opened_by.message_id]["channel_id"])
        rec = self._base_interaction(5, member, channel_id or 0, modal["custom_id"])
        payload = self._payload(rec, channel_id or 0, {"custom_id": modal["custom_id"], "components": rows})
        if opened_by.message_id is not None:
            payload["message"] = self.messages[opened_by.message_id]
            rec.message_id = opened_by.message_id
        await self._dispatch_interaction(rec, payload)
        return rec

    async def _dispatch_interaction(self, rec: InjectedInteraction, payload: dict[str, Any]) -> None:
        rec.dispatched_at = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload)

    def all_latencies(self) -> list[float]:
        return [r.latency for r in self.interactions.values() if r.latency is not None]

    # ------------------------------------------------------------------ gateway

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        if self._ws is None or self._ws.closed:
            raise AssertionError("no client is connected to the fake gateway")
        self._seq += 1
        await self._ws.send_str(json.dumps({"op": 0, "t": event, "s": self._seq, "d": data}))

    async def disconnect_client(self) -> None:
        """Drop the gateway connection, as Discord does now and then."""
        if self._ws is not None:
            await self._ws.close()

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            op = frame.get("op")
            if op == 1:
                await ws.send_str(json.dumps({"op": 11}))
            elif op == 2:
                self.identifies += 1
                self._ws = ws
                self._seq = 0
                await self._identify()
            elif op == 6:
                # No resuming here: an invalid session makes the client identify afresh.
                await ws.send_str(json.dumps({"op": 9, "d": False}))
        if self._ws is ws:
            self._ws = None
            self._ready.clear()
        return ws

    async def _identify(self) -> None:
        await self.dispatch(
            "READY",
            {
                "v": 10,
                "session_id": f"session{self.identifies}",
                "resume_gateway_url": self.gateway_url,
                "user": self.bot_user,
                "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                "application": {"id": str(self.app_id), "flags": 0},
            },
        )
        await self.dispatch(
            "GUILD_CREATE",
            {
                "id": str(self.guild_id),
                "name": "desk",
                "owner_id": str(next(iter(self.members), self.app_id)),
                "roles": self._role_payloads(),
                "channels": self._channel_payloads(),
                "members": [m.payload() for m in self.members.values()] + [self._bot_member()],
                "member_count": len(self.members) + 1,
                "emojis": [],
                "stickers": [],
                "features": [],
            },
        )
        self._ready.set()

    # ------------------------------------------------------------------ REST

    @web.middleware
    async def _record(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if request.path == "/":
            return await handler(request)  # type: ignore[no-any-return]
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            if request.content_type == "multipart/form-data":
                body = _multipart(request.headers["Content-Type"], raw)
            else:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
        call = RestCall(
            request.method, request.path.removeprefix("/api/v10"), dict(request.query), body, time.monotonic()
        )
        request[BODY] = body
        self.calls.append(call)
        if self.token is not None and request.headers.get("Authorization") != f"Bot {self.token}":
            call.status = 401
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        fault = self._fault_for(call.method, call.path)
        if fault is not None:
            if fault.lost_answer:
                await handler(request)
            call.status = fault.status
            resp = self._fault_response(fault)
        else:
            try:
                resp = await handler(request)
            except web.HTTPException as e:
                call.status = e.status
                raise
            call.status = resp.status
        async with self._changed:
            self._changed.notify_all()
        return resp  # type: ignore[no-any-return]

    @staticmethod
    def _fault_response(fault: Fault) -> web.Response:
        if fault.status == 429:
            headers = {"Retry-After": f"{fault.retry_after:.3f}", "X-RateLimit-Scope": "user"}
            if fault.via:
                headers["Via"] = "1.1 google"
            return _json(
                {"message": "You are being rate limited.", "retry_after": fault.retry_after, "global": False},
                429,
                headers,
            )
        return _json({"message": "fake server error", "code": 0}, fault.status)

    async def _me(self, _: web.Request) -> web.Response:
        return _json(self.bot_user)

    def _role_payloads(self) -> list[dict[str, Any]]:
        return [
            {
                "id": str(rid),
                "name": name,
                "permissions": str(self.role_permissions.get(rid, 0)),
                "position": i,
                "color": 0,
                "mentionable": rid in self.mentionable_roles,
                "managed": False,
                "hoist": False,
            }
            for i, (rid, name) in enumerate(self.roles.items())
        ]

    def _channel_payloads(self) -> list[dict[str, Any]]:
        return [
            {
                "id": str(cid),
                "type": self.channel_types.get(cid, 0),
                "name": name,
                "position": i,
                "guild_id": str(self.guild_id),
                "permission_overwrites": self.overwrites.get(cid, []),
            }
            for i, (cid, name) in enumerate(self.channels.items())
        ]

    def _bot_member(self) -> dict[str, Any]:
        return {
            "user": self.bot_user,
            "roles": [str(r) for r in self.bot_roles],
            "flags": 0,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
        }

    def _our_guild(self, request: web.Request) -> bool:
        return self.bot_in_guild and request.match_info["guild"] == str(self.guild_id)

    @staticmethod
    def _unknown_guild() -> web.Response:
        return _json({"message": "Unknown Guild", "code": 10004}, 404)

    async def _guild(self, request: web.Request) -> web.Response:
        if not self._our_guild(request):
            return self._unknown_guild()
        owner = next(iter(self.members), self.app_id)
        return _json({"id": str(self.guild_id), "name": "desk", "owner_id": str(owner), "roles": self._role_payloads()})

    async def _guild_channels(self, request: web.Request) -> web.Response:
        return _json(self._channel_payloads()) if self._our_guild(request) else self._unknown_guild()

    async def _guild_roles(self, request: web.Request) -> web.Response:
        return _json(self._role_payloads()) if self._our_guild(request) else self._unknown_guild()

    async def _guild_member(self, request: web.Request) -> web.Response:
        if not self._our_guild(request):
            return self._unknown_guild()
        uid = int(request.match_info["user"])
        if uid == self.app_id:
            return _json(self._bot_member())
        if uid not in self.members:
            return _json({"message": "Unknown Member", "code": 10007}, 404)
        return _json(self.members[uid].payload())

    async def _application(self, _: web.Request) -> web.Response:
        return _json(
            {
                "id": str(self.app_id),
                "name": "signaldesk",
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": {"id": "1", "username": "owner", "discriminator": "0", "avatar": None},
                "verify_key": "00",
                "flags": 0,
            }
        )

    async def _sync_commands(self, request: web.Request) -> web.Response:
        out = []
        self.commands = {}
        for cmd in request[BODY]:
            synced = {**cmd, "id": str(_snowflake()), "application_id": str(self.app_id), "version": "1"}
            if "guild" in request.match_info:
                synced["guild_id"] = request.match_info["guild"]
            self.commands[cmd["name"]] = synced
            out.append(synced)
        return _json(out)

    async def _list_commands(self, _: web.Request) -> web.Response:
        return _json(list(self.commands.values()))

    def _new_message(self, channel_id: int, body: dict[str, Any], *, flags: int = 0) -> dict[str, Any]:
        mid = _snowflake()
        msg = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "author": self.bot_user,
            "content": body.get("content") or "",
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "attachments": [
                {
                    "id": str(_snowflake()),
                    "filename": name,
                    "size": len(data),
                    "content_type": "image/png",
                    "url": f"https://cdn.fake.invalid/attachments/{channel_id}/{name}",
                    "proxy_url": f"https://media.fake.invalid/attachments/{channel_id}/{name}",
                }
                for name, data in body.get(FILES, {}).items()
            ],
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "type": 0,
            "flags": flags | int(body.get("flags") or 0),
        }
        self.messages[mid] = msg
        self.files[mid] = dict(body.get(FILES, {}))
        return msg

    def _edit(self, mid: int, body: dict[str, Any]) -> dict[str, Any]:
        msg = self.messages[mid]
        for key in ("content", "embeds", "components", "flags"):
            if key in body:
                msg[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        msg["edited_timestamp"] = datetime.now(UTC).isoformat()
        return msg

    async def _create_message(self, request: web.Request) -> web.Response:
        cid = int(request.match_info["cid"])
        if cid not in self.channels:
            return _json({"message": "Unknown Channel", "code": 10003}, 404)
        body = request[BODY]
        nonce = body.get("nonce")
        if nonce and body.get("enforce_nonce") and (cid, str(nonce)) in self._nonces:
            # Discord answers a repeated enforced nonce with the message it already created.
            return _json(self.messages[self._nonces[(cid, str(nonce))]])
        content = body.get("content") or ""
        if len(content) > 2000 or len(body.get("embeds") or []) > 10:
            return _json({"message": "Invalid Form Body", "code": 50035}, 400)
        msg = self._new_message(cid, body)
        if nonce:
            self._nonces[(cid, str(nonce))] = int(msg["id"])
        return _json(msg)

    async def _get_message(self, request: web.Request) -> web.Response:
        mid = int(request.match_info["mid"])
        if mid not in self.messages:
            return _json({"message": "Unknown Message", "code": 10008}, 404)
        return _json(self.messages[mid])

    async def _edit_message(self, request: web.Request) -> web.Response:
        mid = int(request.match_info["mid"])
        if mid not in self.messages or self.messages[mid]["channel_id"] != request.match_info["cid"]:
            return _json({"message": "Unknown Message", "code": 10008}, 404)
        return _json(self._edit(mid, request[BODY]))

    def _interaction(self, token: str) -> InjectedInteraction | None:
        return self.interactions.get(token)

    async def _callback(self, request: web.Request) -> web.Response:
        rec = self._interaction(request.match_info["token"])
        if rec is None or str(rec.id) != request.match_info["iid"]:
            return _json({"message": "Unknown interaction", "code": 10062}, 404)
        now = time.monotonic()
        if rec.callbacks:
            return _json({"message": "Interaction has already been acknowledged.", "code": 40060}, 400)
        if now - rec.dispatched_at > FIRST_RESPONSE_LIMIT:
            self.late_first_responses.append(rec)
            return _json({"message": "Unknown interaction", "code": 10062}, 404)
        body = request[BODY]
        rec.callbacks.append(body)
        rec.first_response_at = now
        rec.responded.set()
        kind = body["type"]
        data = body.get("data") or {}
        flags = int(data.get("flags") or 0)
        resource: dict[str, Any] = {"type": kind}
        if kind in (MESSAGE, DEFERRED_MESSAGE):
            msg = self._new_message(rec.channel_id, data, flags=flags)
            rec.original_message_id = int(msg["id"])
            if kind == MESSAGE:
                rec.followups.append(msg)
                rec.replied.set()
            resource["message"] = msg
        elif kind in (DEFERRED_UPDATE, UPDATE_MESSAGE):
            rec.original_message_id = rec.message_id
            if kind == UPDATE_MESSAGE and rec.message_id is not None:
                msg = self._edit(rec.message_id, data)
                rec.followups.append(msg)
                rec.replied.set()
                resource["message"] = msg
        return _json(
            {
                "interaction": {
                    "id": str(rec.id),
                    "type": rec.type,
                    "response_message_loading": kind == DEFERRED_MESSAGE,
                    "response_message_ephemeral": bool(flags & EPHEMERAL),
                    **({"response_message_id": str(rec.original_message_id)} if rec.original_message_id else {}),
                },
                "resource": resource,
            }
        )

    def _webhook_target(self, request: web.Request) -> tuple[InjectedInteraction | None, int | None]:
        rec = self._interaction(request.match_info["token"])
        if rec is None or request.match_info["app"] != str(self.app_id):
            return None, None
        mid_s = request.match_info.get("mid")
        if mid_s == "@original":
            return rec, rec.original_message_id
        return rec, int(mid_s) if mid_s else None

    async def _webhook_get(self, request: web.Request) -> web.Response:
        rec, mid = self._webhook_target(request)
        if rec is None or mid is None or mid not in self.messages:
            return _json({"message": "Unknown Message", "code": 10008}, 404)
        return _json(self.messages[mid])

    async def _webhook_edit(self, request: web.Request) -> web.Response:
        rec, mid = self._webhook_target(request)
        if rec is None or mid is None or mid not in self.messages:
            return _json({"message": "Unknown Message", "code": 10008}, 404)
        msg = self._edit(mid, request[BODY])
        rec.followups.append(msg)
        rec.replied.set()
        return _json(msg)

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        rec, mid = self._webhook_target(request)
        if rec is None or mid is None or mid not in self.messages:
            return _json({"message": "Unknown Message", "code": 10008}, 404)
        del self.messages[mid]
        return web.Response(status=204)

    async def _followup(self, request: web.Request) -> web.Response:
        rec = self._interaction(request.match_info["token"])
        if rec is None:
            return _json({"message": "Unknown Webhook", "code": 10015}, 404)
        if not rec.callbacks:
            return _json({"message": "Unknown Webhook", "code": 10015}, 404)
        body = request[BODY]
        msg = self._new_message(rec.channel_id, body, flags=int(body.get("flags") or 0))
        rec.followups.append(msg)
        rec.replied.set()
        return _json(msg)


def _walk(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for c in components:
        yield c
        yield from _walk(c.get("components", []))
        if "component" in c:
            yield from _walk([c["component"]])


def is_ephemeral(message: dict[str, Any]) -> bool:
    return bool(int(message.get("flags") or 0) & EPHEMERAL)


def embed_text(message: dict[str, Any]) -> str:
    """Everything a reader sees in a message's embeds, as one string, for assertions."""
    parts = [message.get("content") or ""]
    for e in message.get("embeds", []):
        parts += [e.get("title", ""), e.get("description", "")]
        parts += [f"{f['name']}: {f['value']}" for f in e.get("fields", [])]
        parts.append((e.get("footer") or {}).get("text", ""))
    return "\n".join(p for p in parts if p)

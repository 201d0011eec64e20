"""``/api/v1/notifications``: a member's own notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from madoguchi.kit.schemas import Items
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.notifications import push
from madoguchi.notifications import service as notifications

router = APIRouter(prefix="/api/v1", tags=["members"])


@router.get("/notifications")
async def list_notifications(
    member: MemberDep, ctx: CtxDep, unread_only: bool = False
) -> dict[str, Any]:
    """Your notifications, newest first: ``assigned`` and ``mentioned``."""
    found = await notifications.list_notifications(
        ctx.db, member_id=member.id, unread_only=unread_only
    )
    return {
        "items": [
            {
                "id": n.id,
                "kind": n.kind,
                "conversation_id": n.conversation_id,
                "message_id": n.message_id,
                "actor_id": n.actor_id,
                "created_at": n.created_at.isoformat(),
                "read": n.read_at is not None,
            }
            for n in found
        ]
    }


@router.post("/notifications/read", status_code=204)
async def read_notifications(member: MemberDep, ctx: CtxDep) -> Response:
    await notifications.mark_all_read(ctx, member=member)
    return Response(status_code=204)


# --- Web Push -------------------------------------------------------------------------------


class PushKeys(BaseModel):
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)


class PushSubscriptionIn(BaseModel):
    """A browser's ``PushSubscription.toJSON()`` (its ``expirationTime`` is not kept), and
    whether its notifications may show the customer's words."""

    endpoint: str = Field(max_length=push.MAX_ENDPOINT)
    keys: PushKeys
    previews: bool | None = None


class PushSubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    endpoint: str
    label: str
    previews: bool
    created_at: datetime
    last_sent_at: datetime | None


class PushSubscriptionChange(BaseModel):
    previews: bool


class PushKey(BaseModel):
    public_key: str


class Created(BaseModel):
    id: int


@router.get("/push/key", response_model=PushKey, tags=["push"])
async def push_key(_member: MemberDep, ctx: CtxDep) -> PushKey:
    """The workspace's VAPID application server key (base64url), for
    ``pushManager.subscribe({applicationServerKey})``."""
    return PushKey(public_key=await push.public_key(ctx.db))


@router.post("/push/subscriptions", response_model=Created, status_code=201, tags=["push"])
async def add_push_subscription(
    body: PushSubscriptionIn, request: Request, member: MemberDep, ctx: CtxDep
) -> Created:
    """This browser gets your notifications when no Madoguchi tab of yours is open. The
    endpoint must be https; the same endpoint again updates its row (same id)."""
    subscription = await push.subscribe(
        ctx,
        member=member,
        endpoint=body.endpoint,
        p256dh=body.keys.p256dh,
        auth=body.keys.auth,
        label=push.device_label(request.headers.get("user-agent", "")),
        previews=body.previews,
    )
    return Created(id=subscription.id)


@router.get("/push/subscriptions", response_model=Items[PushSubscriptionOut], tags=["push"])
async def list_push_subscriptions(member: MemberDep, ctx: CtxDep) -> Items[PushSubscriptionOut]:
    """Your own devices, oldest first."""
    found = await push.subscriptions_of(ctx.db, member_id=member.id)
    return Items(items=[PushSubscriptionOut.model_validate(s) for s in found])


@router.patch(
    "/push/subscriptions/{subscription_id}", response_model=PushSubscriptionOut, tags=["push"]
)
async def change_push_subscription(
    subscription_id: int, body: PushSubscriptionChange, member: MemberDep, ctx: CtxDep
) -> Any:
    """Whether this device's notifications show the customer's name and words."""
    return await push.set_previews(
        ctx, member=member, subscription_id=subscription_id, previews=body.previews
    )


@router.delete("/push/subscriptions/{subscription_id}", status_code=204, tags=["push"])
async def remove_push_subscription(
    subscription_id: int, member: MemberDep, ctx: CtxDep
) -> Response:
    """Forget one of your devices (another member's: 404)."""
    await push.unsubscribe(ctx, member=member, subscription_id=subscription_id)
    return Response(status_code=204)

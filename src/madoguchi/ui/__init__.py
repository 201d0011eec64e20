"""The staff web UI (server-rendered pages and htmx fragments)."""

from fastapi import APIRouter

from madoguchi.ui import (
    app_shell,
    auth,
    board,
    composing,
    contacts,
    exporting,
    form_page,
    inbox,
    live,
    notices,
    push_devices,
    scheduling,
    scripts,
    settings,
    workflow,
)

router = APIRouter(include_in_schema=False)
router.include_router(auth.router)
router.include_router(app_shell.router)
router.include_router(inbox.router)
router.include_router(board.router)
router.include_router(exporting.router)
router.include_router(live.router)
router.include_router(workflow.router)
router.include_router(composing.router)
router.include_router(contacts.router)
router.include_router(form_page.router)
router.include_router(scheduling.router)
router.include_router(scripts.router)
router.include_router(notices.router)
router.include_router(push_devices.router)
router.include_router(settings.router)

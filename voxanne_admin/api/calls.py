"""Call-logs CSV downloads: only the staff member who made the export (or an admin) may fetch it."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse
from sqlmodel import Session

from voxanne_admin import db
from voxanne_admin.api.deps import require_staff
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import client_ip
from voxanne_admin.auth.roles import has_role
from voxanne_admin.auth.service import CurrentStaff
from voxanne_admin.calls import exports

router = APIRouter(prefix="/api/calls")


def _audit_download(session: Session, staff: CurrentStaff, token: str, ip: str) -> None:
    audit.record(session, actor=Actor(type="staff", id=str(staff.id), email=staff.email, ip=ip),
                 action="calls_export_downloaded", target_type="call_export", target_id=token[:16])


@router.get("/exports/{token}")
async def download(token: str, request: Request) -> FileResponse:
    """Stream a finished export as a CSV attachment (viewer and up; the exporter or an admin)."""
    staff = await require_staff(request, "viewer", "calls")
    export = await db.run_read_only(exports.get_export, token=token)
    if export is None:
        raise HTTPException(404, "This export does not exist or was deleted (exports are kept 24 hours); "
                                 "export again from the Call logs page.")
    if export.staff_id != staff.id and not has_role(staff.role, "admin"):
        raise HTTPException(403, "Only the person who made this export (or an admin) can download it.")
    if export.status != "completed":
        raise HTTPException(409, "This export is not finished yet; wait for the progress bar to complete."
                            if export.status == "running" else "This export failed; export again.")
    path = Path(export.path)
    if not path.is_file() or exports.export_dir().resolve() not in path.resolve().parents:
        raise HTTPException(404, "The export file is gone (exports are kept 24 hours); export again.")
    await db.run_in_transaction(_audit_download, staff, token, client_ip.from_request(request))
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=path.name,
                        headers={"Cache-Control": "no-store"})

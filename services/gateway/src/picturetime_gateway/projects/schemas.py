"""The project form, as typed (kept to show it again with its errors)."""

from __future__ import annotations

from dataclasses import dataclass, field

from picturetime_common.db.models import Project
from picturetime_common.enums import ProjectVisibility


@dataclass
class ProjectForm:
    title: str = ""
    slug: str = ""
    summary: str = ""
    body_markdown: str = ""
    cover_photo_id: str = ""
    album_id: str = ""
    position: str = "0"
    visibility: str = ProjectVisibility.PRIVATE
    show_timelapse: bool = False
    errors: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, project: Project) -> ProjectForm:
        return cls(
            title=project.title, slug=project.slug, summary=project.summary, body_markdown=project.body_markdown,
            cover_photo_id=project.cover_photo_id.hex if project.cover_photo_id else "",
            album_id=str(project.album_id or ""), position=str(project.position), visibility=project.visibility,
            show_timelapse=project.show_timelapse,
        )  # fmt: skip

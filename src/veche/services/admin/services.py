"""`AdminServices`: the admin API's services, built once by the HomeServer."""

from __future__ import annotations

from veche.services.admin.media import MediaAdmin
from veche.services.admin.registration_tokens import RegistrationTokenAdmin
from veche.services.admin.reports import ReportAdmin
from veche.services.admin.rooms import RoomAdmin
from veche.services.admin.users import UserAdmin


class AdminServices:
    def __init__(
        self,
        *,
        users: UserAdmin,
        rooms: RoomAdmin,
        registration_tokens: RegistrationTokenAdmin,
        media: MediaAdmin,
        reports: ReportAdmin,
    ) -> None:
        self.users = users
        self.rooms = rooms
        self.registration_tokens = registration_tokens
        self.media = media
        self.reports = reports

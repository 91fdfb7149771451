"""Every ORM model, imported in one place so metadata and Alembic see them all."""

from planwire.auth.models import ApiToken, Organization, User
from planwire.events.models import Event
from planwire.projects.models import BufferHistoryPoint, Project, ProjectMember
from planwire.tasks.models import Dependency, Task
from planwire.webhooks.models import Delivery, DeliveryAttempt, Webhook

__all__ = [
    "ApiToken",
    "BufferHistoryPoint",
    "Delivery",
    "DeliveryAttempt",
    "Dependency",
    "Event",
    "Organization",
    "Project",
    "ProjectMember",
    "Task",
    "User",
    "Webhook",
]

"""Plan files made in tests: a large MSPDI file, written the way MS Project writes one."""

from __future__ import annotations

from xml.sax.saxutils import escape

NAMESPACE = "http://schemas.microsoft.com/project"


def mspdi(tasks: str, *, extra: str = "", namespace: bool = True) -> bytes:
    """A minimal MSPDI document around ``tasks`` (the inside of ``<Tasks>``)."""
    xmlns = f' xmlns="{NAMESPACE}"' if namespace else ""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f"<Project{xmlns}>\n<Name>Test</Name>\n{extra}<Tasks>\n{tasks}</Tasks>\n</Project>\n"
    ).encode()


def large_mspdi(count: int) -> bytes:
    """``count`` tasks in phases of 100 under summary tasks: each task follows the one before
    it in its phase (FS), every tenth also has an SS link with a lag from the task ten
    places before, and each phase starts after the previous one (a summary-to-summary link).
    Every 50th task is a milestone; durations are 1 to 5 days; one resource per phase."""
    parts = [
        "<Task><UID>0</UID><ID>0</ID><Name>Large</Name><OutlineLevel>0</OutlineLevel>"
        "<Summary>1</Summary></Task>\n"
    ]
    assignments = []
    uid = 0
    phase_uid = 0
    previous_phase = 0
    for index in range(count):
        if index % 100 == 0:
            uid += 1
            previous_phase, phase_uid = phase_uid, uid
            link = (
                f"<PredecessorLink><PredecessorUID>{previous_phase}</PredecessorUID>"
                "<Type>1</Type></PredecessorLink>"
                if previous_phase
                else ""
            )
            parts.append(
                f"<Task><UID>{uid}</UID><ID>{uid}</ID><Name>Phase {index // 100 + 1}</Name>"
                f"<OutlineLevel>1</OutlineLevel><Summary>1</Summary>{link}</Task>\n"
            )
        uid += 1
        milestone = index % 50 == 49
        hours = 0 if milestone else 8 * (index % 5 + 1)
        links = []
        if index % 100:
            links.append(
                f"<PredecessorLink><PredecessorUID>{uid - 1}</PredecessorUID><Type>1</Type>"
                "<LinkLag>0</LinkLag><LagFormat>7</LagFormat></PredecessorLink>"
            )
        if index % 100 >= 10 and index % 10 == 0:
            links.append(
                f"<PredecessorLink><PredecessorUID>{uid - 10}</PredecessorUID><Type>3</Type>"
                "<LinkLag>4800</LinkLag><LagFormat>7</LagFormat></PredecessorLink>"
            )
        parts.append(
            f"<Task><UID>{uid}</UID><ID>{uid}</ID><Name>{escape(f'Task {index + 1} & co')}"
            f"</Name><OutlineLevel>2</OutlineLevel><Summary>0</Summary>"
            f"<Duration>PT{hours}H0M0S</Duration><DurationFormat>7</DurationFormat>"
            f"<Milestone>{int(milestone)}</Milestone>{''.join(links)}</Task>\n"
        )
        assignments.append(
            f"<Assignment><UID>{uid}</UID><TaskUID>{uid}</TaskUID>"
            f"<ResourceUID>{index // 100 % 7 + 1}</ResourceUID></Assignment>"
        )
    resources = "".join(
        f"<Resource><UID>{r}</UID><ID>{r}</ID><Name>Team {r}</Name></Resource>" for r in range(1, 8)
    )
    extra = (
        f"<Resources>{resources}</Resources>\n<Assignments>{''.join(assignments)}</Assignments>\n"
    )
    return mspdi("".join(parts)).replace(b"</Tasks>\n", b"</Tasks>\n" + extra.encode(), 1)

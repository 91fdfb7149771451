"""The unit of work: one transaction per request or job.

Services never commit. Whoever opens the unit of work (the request dependency, a CLI command,
a worker job) calls :meth:`UnitOfWork.commit`, which finishes the transaction in a fixed order:

1. recalculate the schedule of every project the transaction changed (once each);
2. write the queued events and fan them out to webhooks (the transactional outbox);
3. commit, then wake in-process delivery workers.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from planwire.events import service as events
from planwire.scheduling import service as scheduling
from planwire.webhooks import fanout


class UnitOfWork:
    def __init__(self, session_factory: sessionmaker[Any]) -> None:
        self.session: Session = session_factory()

    def commit(self) -> None:
        scheduling.recalculate_marked(self.session)
        events.flush(self.session)
        self.session.commit()
        fanout.after_commit(self.session)

    def rollback(self) -> None:
        self.session.rollback()
        scheduling.forget_marked(self.session)
        self.session.info.clear()
        fanout.after_rollback(self.session)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.commit()
            else:
                self.rollback()
        finally:
            self.close()

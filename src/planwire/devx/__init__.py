"""Developer experience: plan import (MSPDI, CSV), ``planwire listen``, ``planwire demo`` and
``planwire webhooks …`` for scripts and operators.

Nothing here holds business rules of its own: the import turns a file into the
:class:`~planwire.tasks.schemas.BulkImport` that ``POST …/tasks/bulk/`` takes and hands it to
:func:`planwire.tasks.service.bulk_import`; the webhook commands call
:mod:`planwire.webhooks.service`, as the API does.
"""

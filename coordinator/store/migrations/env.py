"""Alembic's environment for the coordinator's store.

Run through ``coordinator.store.migrations`` (``Database.migrate()``, ``dwc coordinator
migrate``), which opens the transaction and hands over its connection; there is no
alembic.ini and no offline (``--sql``) mode.
"""

from alembic import context

from coordinator.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError(
        "run the coordinator's migrations through coordinator.store.migrations "
        "(dwc coordinator migrate)"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things: batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

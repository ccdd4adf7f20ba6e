"""Migration operations for big, live tables."""

from __future__ import annotations

from django.db import migrations


class AddIndexConcurrently(migrations.AddIndex):
    """AddIndex that, on PostgreSQL, builds the index with CREATE INDEX CONCURRENTLY: the
    consumer keeps writing while a 26 M-row table is indexed (about a minute, bench/volume.py).
    Elsewhere (SQLite) a plain CREATE INDEX. Its migration must say `atomic = False`.

    The build has no statement timeout (DATABASE_STATEMENT_TIMEOUT_MS is for the service's own
    queries), and an invalid index left by an interrupted build is dropped and built again.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.add_index(model, self.index)
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c "
                           "ON c.oid = i.indexrelid WHERE c.relname = %s", [self.index.name])
            found = cursor.fetchone()
            if found and found[0]:
                cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{self.index.name}"')
            cursor.execute("SET statement_timeout = 0")
            try:
                schema_editor.add_index(model, self.index, concurrently=True)
            finally:
                cursor.execute("RESET statement_timeout")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.remove_index(model, self.index, concurrently=True)
        else:
            schema_editor.remove_index(model, self.index)


class ReplaceUniqueConstraintConcurrently(migrations.operations.base.Operation):
    """Replace a unique constraint of a big, live table by another, without locking it for a
    build: on PostgreSQL the new unique index is built with CREATE UNIQUE INDEX CONCURRENTLY,
    then attached as the constraint (ADD CONSTRAINT … UNIQUE USING INDEX: a brief lock, no
    scan), then the old constraint is dropped (brief lock). Elsewhere (SQLite) a plain remove
    and add. Its migration must say `atomic = False`."""

    reversible = False

    def __init__(self, model_name: str, old: object, new: object) -> None:
        self.model_name, self.old, self.new = model_name, old, new

    def state_forwards(self, app_label, state):
        state.remove_constraint(app_label, self.model_name, self.old.name)
        state.add_constraint(app_label, self.model_name, self.new)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.remove_constraint(model, self.old)
            schema_editor.add_constraint(model, self.new)
            return
        table, name = model._meta.db_table, self.new.name
        columns = ", ".join(f'"{model._meta.get_field(f).column}"' for f in self.new.fields)
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c "
                           "ON c.oid = i.indexrelid WHERE c.relname = %s", [name])
            found = cursor.fetchone()
            if found and found[0]:  # an interrupted build left an invalid index
                cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
            cursor.execute("SET statement_timeout = 0")
            try:
                cursor.execute(f'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "{name}" '
                               f'ON "{table}" ({columns})')
            finally:
                cursor.execute("RESET statement_timeout")
            cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" UNIQUE USING INDEX '
                           f'"{name}"')
            cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{self.old.name}"')

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        raise NotImplementedError("not reversible: rows of two log epochs may share an offset")

    def describe(self) -> str:
        return f"Replace {self.old.name} by {self.new.name} on {self.model_name} concurrently"

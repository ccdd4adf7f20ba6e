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

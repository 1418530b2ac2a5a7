"""Optuna's tables as this project reads and writes them: the one module that touches Optuna's storage schema.

Zone maps and exports read trials straight from Optuna's RDB tables (one query per table, no ``FrozenTrial`` per
trial), and a new job writes its study's rows in the job's own transaction. Those tables are defined by Optuna's
private models (``optuna.storages._rdb.models``), which may change in any release, so this module

* takes from them only the tables and columns named below, and fails at import, with an ``ImportError`` that says
  what is missing, if the installed Optuna does not have them;
* states the schema it was written for (:data:`SCHEMA_REVISION`) and, through :func:`check_optuna_schema` (run by
  ``init_db`` before Optuna opens the database), refuses a database or an Optuna release with another schema,
  saying what it found and what to do, rather than letting queries fail or misread rows later.

Optuna records its schema in the database it stores studies in: ``alembic_version`` holds the revision of Optuna's
own Alembic migrations (the schema proper; ours live in ``ze_alembic_version``), and ``version_info`` the Optuna
release that set the database up.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import optuna
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from zone_explorer.store.db import get_engine, normalize_url

__all__ = [
    "SCHEMA_REVISION",
    "OptunaSchemaError",
    "check_optuna_schema",
    "studies",
    "study_directions",
    "study_user_attributes",
    "trial_intermediate_values",
    "trial_params",
    "trial_system_attributes",
    "trial_user_attributes",
    "trial_values",
    "trials",
]

#: The revision of Optuna's migrations whose tables this module reads and writes: the head from Optuna 3.2 to 5.x.
SCHEMA_REVISION = "v3.2.0.a"
#: What to install when the installed Optuna does not fit; the range pyproject.toml asks for.
_SUPPORTED_OPTUNA = "optuna>=5.0,<6"
#: Optuna's record of the release that set a database up (one row).
_VERSION_INFO = sa.table("version_info", sa.column("library_version"))


class OptunaSchemaError(RuntimeError):
    """The database's Optuna tables, or the installed Optuna's, are not the schema this project was written for.

    A ``RuntimeError``, as Optuna's own schema check raises: it is the installation's fault, not a request's.
    """


def _unsupported(problem: str) -> str:
    return (
        f"The installed optuna {optuna.__version__} {problem}; Zone Explorer reads Optuna's tables as of schema "
        f"revision {SCHEMA_REVISION!r} (see zone_explorer/store/optuna_tables.py). Install a supported release: "
        f"pip install '{_SUPPORTED_OPTUNA}'"
    )


try:
    from optuna.storages._rdb import models as _models
except ImportError as exc:
    raise ImportError(_unsupported(f"has no table models where they are expected ({exc})")) from exc


def _table(model: str, *columns: str) -> sa.Table:
    """The table of Optuna's ``model``, after checking that it has ``columns``: the ones this project uses."""
    table = getattr(getattr(_models, model, None), "__table__", None)
    if not isinstance(table, sa.Table):
        raise ImportError(_unsupported(f"has no table model {model} in optuna.storages._rdb.models"))
    missing = [name for name in columns if name not in table.c]
    if missing:
        raise ImportError(_unsupported(f"has no column(s) {', '.join(missing)} in table {table.name!r}"))
    return table


# Optuna's own Table objects, not copies: their column types convert Optuna's enums (trial state, direction) and
# datetimes on the way in and out, on every backend.
studies = _table("StudyModel", "study_id", "study_name")
study_directions = _table("StudyDirectionModel", "study_id", "objective", "direction")
study_user_attributes = _table("StudyUserAttributeModel", "study_id", "key", "value_json")
trials = _table("TrialModel", "trial_id", "number", "study_id", "state", "datetime_start", "datetime_complete")
trial_values = _table("TrialValueModel", "trial_id", "objective", "value")
trial_params = _table("TrialParamModel", "trial_id", "param_name", "param_value", "distribution_json")
trial_user_attributes = _table("TrialUserAttributeModel", "trial_id", "key", "value_json")
trial_system_attributes = _table("TrialSystemAttributeModel", "trial_id", "key", "value_json")
trial_intermediate_values = _table("TrialIntermediateValueModel", "trial_id", "step", "intermediate_value")


@lru_cache(maxsize=1)
def _optuna_revisions() -> tuple[str, ...]:
    """The revisions of the installed Optuna's migrations, newest (the schema it writes) first.

    Parsed once per process from the migration scripts Optuna ships beside its models, as Optuna itself does.
    """
    scripts = ScriptDirectory(str(Path(_models.__file__).resolve().parent / "alembic"))
    return tuple(revision.revision for revision in scripts.walk_revisions())


def check_optuna_schema(engine_or_url: sa.Engine | str) -> None:
    """Raise :class:`OptunaSchemaError` unless the installed Optuna and the database's Optuna tables, where it has
    them already, have schema :data:`SCHEMA_REVISION`.

    A database without Optuna's tables passes: Optuna creates them at the installed release's schema, checked here
    first. Reads only, so several processes may start at once.
    """
    known = _optuna_revisions()
    if known[0] != SCHEMA_REVISION:
        raise OptunaSchemaError(_unsupported(f"writes schema revision {known[0]!r}"))
    engine = get_engine(normalize_url(engine_or_url)) if isinstance(engine_or_url, str) else engine_or_url
    with engine.connect() as conn:
        found = MigrationContext.configure(conn).get_current_revision()
        if found is None or found == SCHEMA_REVISION:
            return
        set_up_by = conn.scalar(sa.select(_VERSION_INFO.c.library_version).limit(1))
    where = engine.url.render_as_string(hide_password=True)
    if found in known:
        todo = f"upgrade its tables with the installed Optuna first: optuna storage upgrade --storage '{where}'"
    else:
        todo = (
            "a newer Optuna wrote them; open it with a Zone Explorer release made for that Optuna, or use a "
            f"database set up with {_SUPPORTED_OPTUNA}"
        )
    raise OptunaSchemaError(
        f"The Optuna tables in {where} have schema revision {found!r} (set up by optuna {set_up_by}), but Zone "
        f"Explorer reads and writes revision {SCHEMA_REVISION!r} (optuna {optuna.__version__} is installed); {todo}"
    )

"""The catalog: tasks (registered and contributed) and optimizers with their domains and default spaces."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from server import examples as ex
from server.deps import DbUrl
from server.errors import error_responses
from server.schemas import Name, OptimizerPublic, TaskPublic
from zone_explorer.contrib import describe_optimizer, describe_task, list_optimizers, list_tasks

router = APIRouter(tags=["catalog"])


@router.get(
    "/tasks", response_model=list[TaskPublic], summary="List tasks", responses=ex.ok([ex.TASK]) | error_responses(422)
)
def get_tasks(url: DbUrl) -> list[dict]:
    """Registered tasks (built-in and plug-ins), then the tasks contributors described."""
    return list_tasks(url)


@router.get(
    "/tasks/{name}",
    response_model=TaskPublic,
    summary="Describe one task",
    responses=ex.ok(ex.TASK) | error_responses(404, 422),
)
def get_task(name: Annotated[Name, Path(examples=["digits-cnn"])], url: DbUrl) -> dict:
    return describe_task(url, name)


@router.get(
    "/optimizers", response_model=list[OptimizerPublic], summary="List optimizers", responses=ex.ok([ex.OPTIMIZER])
)
def get_optimizers() -> list[dict]:
    """Every registry optimizer with its hyperparameter domains, default search space and what a contribution
    must give."""
    return list_optimizers()


@router.get(
    "/optimizers/{name}",
    response_model=OptimizerPublic,
    summary="Describe one optimizer",
    responses=ex.ok(ex.OPTIMIZER) | error_responses(404, 422),
)
def get_optimizer(name: Annotated[Name, Path(examples=["fsgdm"])]) -> dict:
    return describe_optimizer(name)

"""Every dataset a workspace can use: the built-in ones first, then the ones imported into it."""
from __future__ import annotations

from core.data.builtin import builtin_infos, builtin_path, is_builtin
from core.data.store import Dataset, DatasetInfo, stored_dataset_path, stored_datasets
from core.errors import UserError


SHARED_PREFIX = "class:"  # a class-workspace dataset as seen from another workspace: "class:chest-3fa9c1"


def list_datasets(workspace: str, shared: str | None = None) -> list[DatasetInfo]:
    """The built-in datasets, then `workspace`'s, then (workshop and SSO modes) those of the shared read-only
    workspace `shared` with SHARED_PREFIX on their ids, which open_dataset resolves from any workspace."""
    return builtin_infos() + stored_datasets(workspace)  # H1: shared


def open_dataset(workspace: str, dataset_id: str) -> Dataset:
    if is_builtin(dataset_id):
        return Dataset(builtin_path(dataset_id))
    path = stored_dataset_path(workspace, dataset_id)
    if path is None:
        raise UserError(
            f"There is no dataset '{dataset_id}' in workspace '{workspace}'; `python -m core datasets` lists them."
        )
    return Dataset(path)

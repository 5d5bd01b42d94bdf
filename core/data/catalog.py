"""Every dataset a workspace can use: the built-in ones first, then the ones imported into it."""
from __future__ import annotations

from core.data.builtin import builtin_infos, builtin_path, is_builtin
from core.data.store import Dataset, DatasetInfo, stored_dataset_path, stored_datasets
from core.errors import UserError


def list_datasets(workspace: str) -> list[DatasetInfo]:
    return builtin_infos() + stored_datasets(workspace)


def open_dataset(workspace: str, dataset_id: str) -> Dataset:
    if is_builtin(dataset_id):
        return Dataset(builtin_path(dataset_id))
    path = stored_dataset_path(workspace, dataset_id)
    if path is None:
        raise UserError(
            f"There is no dataset '{dataset_id}' in workspace '{workspace}'; `python -m core datasets` lists them."
        )
    return Dataset(path)

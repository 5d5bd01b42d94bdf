"""Every dataset a workspace can use: the built-in ones first, then the ones imported into it, then (workshop and
single sign-on modes) the class workspace's, read-only, with SHARED_PREFIX on their ids.

A shared id such as "class:chest-3fa9c1" is a dataset id like any other for run configs, the CLI and the pages:
open_dataset resolves it from any workspace, and the opened dataset's info.id keeps the prefix, so whatever is
recorded from it (a run's config and report, an export's model card) opens again from the same workspace.
"""
from __future__ import annotations

from dataclasses import replace

from core.data.builtin import builtin_infos, builtin_path, is_builtin
from core.data.store import Dataset, DatasetInfo, stored_dataset_path, stored_datasets
from core.errors import UserError
from core.settings import CLASS_WORKSPACE, medlab_home

SHARED_PREFIX = "class:"  # a class-workspace dataset as seen from another workspace: "class:chest-3fa9c1"


def is_shared(dataset_id: str) -> bool:
    """Whether `dataset_id` names a class-workspace dataset seen from another workspace ("class:<id>")."""
    return isinstance(dataset_id, str) and dataset_id.startswith(SHARED_PREFIX)


def shared_info(info: DatasetInfo) -> DatasetInfo:
    """A copy of a class-workspace dataset's info as other workspaces list it: the prefixed id, and a source that
    says where it comes from (e.g. "class (upload)")."""
    return replace(info, id=SHARED_PREFIX + info.id, source=f"class ({info.source})")


def list_datasets(workspace: str, shared: str | None = None) -> list[DatasetInfo]:
    """The built-in datasets, then `workspace`'s, then (workshop and SSO modes) those of the shared read-only
    workspace `shared` with SHARED_PREFIX on their ids, which open_dataset resolves from any workspace. The shared
    workspace's own listing (workspace == shared) has them once, unprefixed."""
    infos = builtin_infos() + stored_datasets(workspace)
    if shared and shared != workspace and (medlab_home() / "workspaces" / shared / "datasets").is_dir():
        infos += [shared_info(info) for info in stored_datasets(shared)]  # (listing never creates the folder)
    return infos


def open_dataset(workspace: str, dataset_id: str) -> Dataset:
    """The dataset `dataset_id` as `workspace` sees it: built-in, stored in the workspace, or "class:<id>" (the
    class workspace's, from any workspace; its info.id keeps the prefix).

    Raises:
        UserError: there is no such dataset.
    """
    if is_builtin(dataset_id):
        return Dataset(builtin_path(dataset_id))
    if is_shared(dataset_id):
        path = stored_dataset_path(CLASS_WORKSPACE, dataset_id[len(SHARED_PREFIX):])
        if path is None:
            raise UserError(f"There is no dataset '{dataset_id}' in the class workspace; `python -m core datasets` "
                            "lists them.")
        dataset = Dataset(path)
        dataset.info = shared_info(dataset.info)
        return dataset
    path = stored_dataset_path(workspace, dataset_id)
    if path is None:
        raise UserError(
            f"There is no dataset '{dataset_id}' in workspace '{workspace}'; `python -m core datasets` lists them."
        )
    return Dataset(path)

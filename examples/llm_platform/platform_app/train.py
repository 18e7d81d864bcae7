"""A fine-tune across the nodes of a cluster (each node runs this function)."""


def finetune(dataset: str = "default", epochs: int = 1) -> dict:
    import os

    rank = int(os.environ.get("MODAL_CLUSTER_RANK", "0"))
    return {"dataset": dataset, "epochs": epochs, "rank": rank}

import os


def process(item: str, root: str = os.getcwd()) -> str:
    return root + item

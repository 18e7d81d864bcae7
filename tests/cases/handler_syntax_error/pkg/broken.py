def process(item: str) -> str
    return item
